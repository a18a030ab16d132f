"""Project URLs: pages, the admin, the REST API under /api/v1/ and its schema.

The API's CRUD resources (segments, coupon templates, campaigns) and the customer reads (a
customer, its coupons) are ViewSets on the one router below (STYLE §2.7); each app's
api/urls.py holds its endpoints outside the router (claims, redemptions, bulk ingest, a
segment's members and export).
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from campaigns.api.views import (
    CampaignDeliveryViewSet,
    CampaignViewSet,
    CouponTemplateViewSet,
    CustomerCouponViewSet,
    CustomerMessageViewSet,
)
from crm.api.views import CUSTOMER_ID_PATH, CustomerPointsViewSet, CustomerViewSet
from crm.views import customers, errors, imports
from segments.api.views import SegmentViewSet


class APIRouter(DefaultRouter):
    """DefaultRouter, whose root view (/api/v1/, "api-root") lists the resources, without
    format suffixes: the API negotiates its format (Accept, ?format=json), and suffixes
    would add a `.json` twin of every route."""

    include_format_suffixes = False


# Route names carry an `api-` prefix: the marketer pages own `segment-list`,
# `campaign-list` and the like.
api_router = APIRouter()
api_router.register("segments", SegmentViewSet, basename="api-segment")
api_router.register("coupon-templates", CouponTemplateViewSet, basename="api-coupon-template")
api_router.register("campaigns", CampaignViewSet, basename="api-campaign")
api_router.register(
    r"campaigns/(?P<code>[^/.]+)/deliveries",
    CampaignDeliveryViewSet,
    basename="api-campaign-deliveries",
)
# One customer, its coupons and its messages, for support tools and the shop. Neither route matches
# customers/bulk/ (CUSTOMER_ID_PATH), the bulk ingest of crm/api/urls.py.
api_router.register("customers", CustomerViewSet, basename="api-customer")
api_router.register(
    rf"customers/(?P<customer_id>{CUSTOMER_ID_PATH})/coupons",
    CustomerCouponViewSet,
    basename="api-customer-coupons",
)
api_router.register(
    rf"customers/(?P<customer_id>{CUSTOMER_ID_PATH})/messages",
    CustomerMessageViewSet,
    basename="api-customer-messages",
)
api_router.register(
    rf"customers/(?P<customer_id>{CUSTOMER_ID_PATH})/points",
    CustomerPointsViewSet,
    basename="api-customer-points",
)

urlpatterns = [
    path("", customers.HomeView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", customers.CustomerListView.as_view(), name="customer-list"),
    path("customers/export/", customers.CustomerExportView.as_view(), name="customer-export"),
    # path: customer ids are external and may hold a "/" (a placeholder's partner id).
    path(
        "customers/<path:customer_id>/",
        customers.CustomerDetailView.as_view(),
        name="customer-detail",
    ),
    path("imports/", imports.ImportListView.as_view(), name="import-list"),
    path("imports/create/", imports.ImportCreateView.as_view(), name="import-create"),
    path("imports/<int:pk>/", imports.ImportDetailView.as_view(), name="import-detail"),
    path(
        "imports/<int:pk>/progress/", imports.ImportProgressView.as_view(), name="import-progress"
    ),
    path(
        "imports/<int:pk>/refused-rows/",
        imports.ImportRefusedRowsView.as_view(),
        name="import-refused-rows",
    ),
    path("", include("segments.urls")),
    path("", include("campaigns.urls")),
    path("", include("analytics.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_router.urls)),
    path("api/v1/", include("segments.api.urls")),
    path("api/v1/", include("campaigns.api.urls")),
    path("api/v1/", include("crm.api.urls")),
    path("api/v1/", include("analytics.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Browsers ask for /favicon.ico on pages that link no icon (the browsable API); the
    # static URL is resolved per request (hashed in production).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.ico"))),
]

# The site's own 404 and 500 (JSON under /api/); 403 is Django's, with templates/403.html.
handler404 = errors.page_not_found
handler500 = errors.server_error

"""Campaigns API routes, included under /api/v1/ by crm/urls.py.

A SimpleRouter (no API root view) so that /api/v1/ itself stays crm's router root. Route
names carry an `api-` prefix: the marketer pages own `campaign-list` and the like.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from campaigns.api import views

router = SimpleRouter()
router.register("coupon-templates", views.CouponTemplateViewSet, basename="api-coupon-template")
router.register("campaigns", views.CampaignViewSet, basename="api-campaign")

urlpatterns = [
    path("claims/", views.ClaimView.as_view(), name="api-claim"),
    path("redemptions/", views.RedemptionView.as_view(), name="api-redemption"),
    *router.urls,
]

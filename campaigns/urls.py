"""Marketer pages of campaigns, coupon templates, issued coupons and redemptions
(Oscar-style URLs), included at the site root by crm/urls.py."""

from django.urls import path

from campaigns import views

urlpatterns = [
    path("coupon-templates/", views.CouponTemplateListView.as_view(), name="coupon-template-list"),
    path(
        "coupon-templates/export/",
        views.CouponTemplateExportView.as_view(),
        name="coupon-template-export",
    ),
    path(
        "coupon-templates/create/",
        views.CouponTemplateCreateView.as_view(),
        name="coupon-template-create",
    ),
    path(
        "coupon-templates/<slug:code>/update/",
        views.CouponTemplateUpdateView.as_view(),
        name="coupon-template-update",
    ),
    path("campaigns/", views.CampaignListView.as_view(), name="campaign-list"),
    path("campaigns/export/", views.CampaignExportView.as_view(), name="campaign-export"),
    path("campaigns/create/", views.CampaignCreateView.as_view(), name="campaign-create"),
    # Before campaigns/<code>/: the pick lists' values (codes the data holds).
    path("campaigns/values/", views.CampaignValuesView.as_view(), name="campaign-values"),
    path(
        "campaigns/audience-size/",
        views.CampaignAudienceSizeView.as_view(),
        name="campaign-audience-size",
    ),
    path("campaigns/<slug:code>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path(
        "campaigns/<slug:code>/update/",
        views.CampaignUpdateView.as_view(),
        name="campaign-update",
    ),
    path(
        "campaigns/<slug:code>/push/",
        views.CampaignPushProgressView.as_view(),
        name="campaign-push-progress",
    ),
    path(
        "campaigns/<slug:code>/actions/",
        views.CampaignActionView.as_view(),
        name="campaign-action",
    ),
    path("share/<slug:code>/", views.ShareLinkView.as_view(), name="share-link"),
    path("coupons/", views.CouponListView.as_view(), name="coupon-list"),
    path("coupons/export/", views.CouponExportView.as_view(), name="coupon-export"),
    path("redemptions/", views.RedemptionListView.as_view(), name="redemption-list"),
    path("redemptions/export/", views.RedemptionExportView.as_view(), name="redemption-export"),
]

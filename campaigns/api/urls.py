"""Campaigns API routes outside the router, included under /api/v1/ by crm/urls.py.

Claim and redeem (SPEC §5) are integration endpoints, one APIView each; the templates and
campaigns ViewSets are on the project's one router (crm/urls.py). Route names carry an
`api-` prefix: the marketer pages own `campaign-list` and the like.
"""

from django.urls import path

from campaigns.api import views

urlpatterns = [
    path("claims/", views.ClaimView.as_view(), name="api-claim"),
    path("redemptions/", views.RedemptionView.as_view(), name="api-redemption"),
]

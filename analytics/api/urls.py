"""Reports API routes, included under /api/v1/ by crm/urls.py."""

from django.urls import path

from analytics.api import views

urlpatterns = [
    path(
        "campaigns/<str:code>/report/",
        views.CampaignReportView.as_view(),
        name="api-campaign-report",
    ),
    path(
        "reports/campaigns/",
        views.CampaignOverviewView.as_view(),
        name="api-campaign-overview",
    ),
    path("reports/customers/", views.CustomerBaseView.as_view(), name="api-customer-base"),
    path(
        "reports/customers/snapshots/",
        views.CustomerBaseSnapshotsView.as_view(),
        name="api-customer-base-snapshots",
    ),
    path(
        "reports/customers/snapshots/<int:job_id>/",
        views.CustomerBaseSnapshotView.as_view(),
        name="api-customer-base-snapshot",
    ),
    path("reports/live/", views.LiveMonitorView.as_view(), name="api-live-monitor"),
]

"""Report pages, included at the site root by crm/urls.py."""

from django.urls import path

from analytics import views

urlpatterns = [
    path("reports/campaigns/", views.CampaignOverviewView.as_view(), name="campaign-overview"),
    path(
        "reports/campaigns/export/",
        views.CampaignOverviewExportView.as_view(),
        name="campaign-overview-export",
    ),
    path("reports/customers/", views.CustomerBaseView.as_view(), name="customer-base"),
    path(
        "reports/customers/export/",
        views.CustomerBaseExportView.as_view(),
        name="customer-base-export",
    ),
    path(
        "reports/customers/facts/",
        views.CustomerBaseFactsView.as_view(),
        name="customer-base-facts",
    ),
    path(
        "reports/customers/snapshots/",
        views.CustomerBaseSnapshotView.as_view(),
        name="customer-base-snapshot",
    ),
    path(
        "reports/customers/snapshots/<int:job_id>/",
        views.CustomerBaseSnapshotProgressView.as_view(),
        name="customer-base-snapshot-progress",
    ),
    path(
        "reports/customers/facts/<int:job_id>/",
        views.CustomerBaseFactsProgressView.as_view(),
        name="customer-base-facts-progress",
    ),
    path("reports/live/", views.LiveMonitorView.as_view(), name="live-monitor"),
    path("reports/live/export/", views.LiveMonitorExportView.as_view(), name="live-monitor-export"),
    path(
        "reports/campaigns/<slug:code>/panel/",
        views.CampaignReportPanelView.as_view(),
        name="campaign-report-panel",
    ),
    path(
        "reports/campaigns/<slug:code>/export/",
        views.CampaignReportExportView.as_view(),
        name="campaign-report-export",
    ),
]

"""Marketer pages of segments (Oscar-style URLs), included at the site root by crm/urls.py."""

from django.urls import path

from segments import views

urlpatterns = [
    path("segments/", views.SegmentListView.as_view(), name="segment-list"),
    path("segments/create/", views.SegmentCreateView.as_view(), name="segment-create"),
    path("segments/upload/", views.SnapshotUploadView.as_view(), name="segment-upload"),
    path("segments/<int:pk>/", views.SegmentDetailView.as_view(), name="segment-detail"),
    path("segments/<int:pk>/update/", views.SegmentUpdateView.as_view(), name="segment-update"),
    path(
        "segments/<int:pk>/duplicate/",
        views.SegmentDuplicateView.as_view(),
        name="segment-duplicate",
    ),
    path("segments/<int:pk>/delete/", views.SegmentDeleteView.as_view(), name="segment-delete"),
    path("segments/<int:pk>/summary/", views.SegmentSummaryView.as_view(), name="segment-summary"),
    path("segments/<int:pk>/export/", views.SegmentExportView.as_view(), name="segment-export"),
    path("segments/<int:pk>/overlap/", views.SegmentOverlapView.as_view(), name="segment-overlap"),
    path("segments/<int:pk>/refresh/", views.SegmentRefreshView.as_view(), name="segment-refresh"),
    path(
        "segments/<int:pk>/refresh/<int:job_id>/",
        views.SegmentRefreshProgressView.as_view(),
        name="segment-refresh-progress",
    ),
]

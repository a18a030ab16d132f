"""Segments API routes, included under /api/v1/ by crm/urls.py.

A SimpleRouter (no API root view) so that /api/v1/ itself stays crm's router root. Route
names carry an `api-` prefix: the marketer pages own `segment-list` and the like. A
segment's members are their own viewset (they are customers, filtered as customers).
"""

from django.urls import path
from rest_framework.renderers import JSONRenderer
from rest_framework.routers import SimpleRouter

from segments.api import views

router = SimpleRouter()
router.register("segments", views.SegmentViewSet, basename="api-segment")

urlpatterns = [
    path(
        "segments/<int:segment_pk>/members/",
        views.SegmentMemberViewSet.as_view({"get": "list"}),
        name="api-segment-members",
    ),
    path(
        "segments/<int:segment_pk>/export/",
        views.SegmentMemberViewSet.as_view(
            {"get": "export"}, renderer_classes=[JSONRenderer, views.CSVRenderer]
        ),
        name="api-segment-export",
    ),
    *router.urls,
]

"""Segments API routes outside the router, included under /api/v1/ by crm/urls.py.

SegmentViewSet is on the project's one router (crm/urls.py). A segment's members are their
own viewset (they are customers, filtered as customers), routed here under their segment.
Route names carry an `api-` prefix: the marketer pages own `segment-list` and the like.
"""

from django.urls import path
from rest_framework.renderers import JSONRenderer

from segments.api import views

urlpatterns = [
    path(
        "segments/<str:segment_pk>/members/",
        views.SegmentMemberViewSet.as_view({"get": "list"}),
        name="api-segment-members",
    ),
    path(
        "segments/<str:segment_pk>/export/",
        views.SegmentMemberViewSet.as_view(
            {"get": "export"}, renderer_classes=[JSONRenderer, views.CSVRenderer]
        ),
        name="api-segment-export",
    ),
]

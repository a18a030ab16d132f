"""REST API routes under /api/v1/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from crm.api import views

router = DefaultRouter()

urlpatterns = [
    path("customers/bulk/", views.CustomerBulkIngestView.as_view(), name="customer-bulk"),
    path("orders/bulk/", views.OrderBulkIngestView.as_view(), name="order-bulk"),
    path("order-items/bulk/", views.OrderItemBulkIngestView.as_view(), name="order-item-bulk"),
    path("events/bulk/", views.EventBulkIngestView.as_view(), name="event-bulk"),
    *router.urls,
]

"""Bulk ingest routes of customer data, included under /api/v1/ by crm/urls.py."""

from django.urls import path

from crm.api import views

urlpatterns = [
    path("customers/bulk/", views.CustomerBulkIngestView.as_view(), name="customer-bulk"),
    path("orders/bulk/", views.OrderBulkIngestView.as_view(), name="order-bulk"),
    path("order-items/bulk/", views.OrderItemBulkIngestView.as_view(), name="order-item-bulk"),
    path("events/bulk/", views.EventBulkIngestView.as_view(), name="event-bulk"),
    path("referrals/bulk/", views.ReferralBulkIngestView.as_view(), name="referral-bulk"),
]

"""Customer pages (being built)."""

from django.views.generic import TemplateView


class HomeView(TemplateView):
    template_name = "crm/home.html"


CustomerListView = CustomerExportView = CustomerDetailView = HomeView

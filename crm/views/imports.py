"""CSV import pages (being built)."""

from django.views.generic import TemplateView


class ImportListView(TemplateView):
    template_name = "crm/import_list.html"


ImportCreateView = ImportDetailView = ImportProgressView = ImportListView

"""CSV import pages: past imports, upload, and an import's progress and refused rows.

Marketers upload (WRITE_ROLES); marketers and analysts follow imports (READ_ROLES). The
import itself runs in Celery (crm.tasks.import_csv_file_task); the detail page polls its
job row with htmx until it finishes.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from crm import selectors
from crm.core.csv_export import stream_csv
from crm.core.permissions import READ_ROLES, WRITE_ROLES, RoleRequiredMixin, can_see_pii, has_role
from crm.enums import ImportKind
from crm.forms import ImportUploadForm
from crm.services.imports import reports, uploads


class ImportListView(RoleRequiredMixin, ListView):
    allowed_roles = READ_ROLES
    template_name = "crm/import_list.html"
    context_object_name = "jobs"
    paginate_by = 25

    def get_queryset(self):
        return selectors.import_jobs()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_import"] = has_role(self.request.user, WRITE_ROLES)
        context["page_range"] = context["paginator"].get_elided_page_range(
            context["page_obj"].number, on_each_side=2, on_ends=1
        )
        return context


class ImportCreateView(RoleRequiredMixin, FormView):
    allowed_roles = WRITE_ROLES
    template_name = "crm/import_create.html"
    form_class = ImportUploadForm

    def get_initial(self):
        return {"kind": self.request.GET.get("kind", ImportKind.CUSTOMERS)}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["layouts"] = selectors.import_layouts()
        return context

    def form_valid(self, form):
        job = uploads.start_csv_import(
            kind=form.cleaned_data["kind"],
            upload=form.cleaned_data["file"],
            created_by=self.request.user,
        )
        messages.info(self.request, f"“{job.label}” uploaded.")
        return redirect("import-detail", pk=job.pk)


class ImportDetailView(RoleRequiredMixin, DetailView):
    allowed_roles = READ_ROLES
    template_name = "crm/import_detail.html"
    context_object_name = "job"

    def get_queryset(self):
        return selectors.import_jobs()


class ImportProgressView(ImportDetailView):
    """The detail page's live part; htmx fetches it every second until the job ends."""

    template_name = "crm/import_progress.html"


class ImportRefusedRowsView(RoleRequiredMixin, View):
    """The refused rows as CSV: line, reason and the row as uploaded (PII masked)."""

    allowed_roles = READ_ROLES

    def get(self, request, pk: int):
        job = get_object_or_404(selectors.import_jobs(), pk=pk)
        header, rows = reports.refused_rows(job=job, show_pii=can_see_pii(request.user))
        return stream_csv(filename=f"import-{job.pk}-refused-rows.csv", header=header, rows=rows)

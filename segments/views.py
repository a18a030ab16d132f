"""Marketer pages of segments: the list, a segment's page, the builder and the list upload.

Marketers build and change segments (WRITE_ROLES); marketers and analysts read
(READ_ROLES). The builder (static/js/segment_builder.js) counts through the preview API
while the marketer edits and posts the rule tree as JSON; a refusal of the catalogue comes
back with the node's path and is shown at that node.
"""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from crm.core.api import DomainRefusal
from crm.core.csv_export import stream_csv
from crm.core.permissions import READ_ROLES, WRITE_ROLES, RoleRequiredMixin, can_see_pii, has_role
from segments import selectors
from segments.catalogue import field_catalogue
from segments.enums import FieldFamily, Operator, SegmentKind
from segments.exceptions import SegmentQueryTimedOut
from segments.filters import SegmentFilterSet, SegmentMemberFilterSet
from segments.forms import SegmentForm, SnapshotUploadForm
from segments.json_text import load_json_text
from segments.models import Segment
from segments.rules import RuleError
from segments.services import definitions, refresh, uploads
from segments.services.query_settings import rows_within_time_limit, segment_query_time_limit

# Members shown on the segment page; the export has them all.
PAGE_SAMPLE_SIZE = 20
# Unknown ids listed in the message after an upload; the API returns the first 1,000.
UPLOAD_LISTED_UNKNOWN = 10


def _percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}" if whole else "0.0"


def _segment_or_404(pk: int) -> Segment:
    return get_object_or_404(selectors.segments_for_list(), pk=pk)


# List -------------------------------------------------------------------------------------


class SegmentListView(RoleRequiredMixin, ListView):
    allowed_roles = READ_ROLES
    template_name = "segments/segment_list.html"
    context_object_name = "segments"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = SegmentFilterSet(
            self.request.GET or None, queryset=selectors.segments_for_list()
        )
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filterset"] = self.filterset
        context["filters_active"] = any(
            value.strip() for name, value in self.request.GET.items() if name != "page"
        )
        context["page_range"] = context["paginator"].get_elided_page_range(
            context["page_obj"].number, on_each_side=2, on_ends=1
        )
        context["can_edit"] = has_role(self.request.user, WRITE_ROLES)
        return context


# Segment page -----------------------------------------------------------------------------


class SegmentDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READ_ROLES
    template_name = "segments/segment_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        segment = _segment_or_404(kwargs["pk"])
        context["segment"] = segment
        context["can_edit"] = has_role(self.request.user, WRITE_ROLES)
        try:
            context["sentence"] = selectors.segment_sentence(segment=segment)
        except RuleError as error:
            context["problem"] = str(error)
        # The template draws it (analytics' size_history_chart tag): segments never imports
        # analytics.
        context["history"] = selectors.segment_size_history(segment=segment)
        context["job"] = selectors.latest_segment_refresh(segment=segment)
        context["rules_json"] = json.dumps(segment.rules, indent=2, ensure_ascii=False)
        context["others"] = selectors.segments_to_compare(segment=segment)
        return context


class SegmentSummaryView(RoleRequiredMixin, View):
    """The live size, share and sample members of the segment page, loaded after the page
    (htmx), so the page opens at once however long the rules take to evaluate."""

    allowed_roles = READ_ROLES

    def get(self, request, pk: int):
        segment = _segment_or_404(pk)
        context = {"segment": segment}
        try:
            with segment_query_time_limit(replica=True):
                summary = selectors.segment_summary(
                    segment=segment,
                    as_of=timezone.now(),
                    show_pii=can_see_pii(request.user),
                    sample_size=PAGE_SAMPLE_SIZE,
                )
        except RuleError as error:
            context["problem"] = str(error)
        except SegmentQueryTimedOut as stopped:
            context["problem"] = stopped.detail
        else:
            context["sample"] = summary["sample"]
            context["size"] = {
                "count": summary["count"],
                "total": summary["total"],
                "share": f"{_percent(summary['count'], summary['total'])}%",
                "of_total": f"of {summary['total']:,} customers",
                "note": "its frozen list"
                if segment.kind == SegmentKind.SNAPSHOT
                else "its rules evaluated now",
            }
        return render(request, "segments/segment_summary.html", context)


class SegmentExportView(RoleRequiredMixin, View):
    """The members as CSV, contact masked as the viewer needs (member filters apply).

    The download starts once the first members are found under the segment query time
    limit; rules that no longer validate or a query that runs out of time go back to the
    segment page with the reason."""

    allowed_roles = READ_ROLES

    def get(self, request, pk: int):
        segment = _segment_or_404(pk)
        now = timezone.now()
        try:
            members = SegmentMemberFilterSet(
                request.GET or None,
                queryset=selectors.segment_members_for_list(
                    segment=segment, as_of=now, show_pii=can_see_pii(request.user)
                ),
            ).qs
            rows = rows_within_time_limit(lambda: selectors.member_export_rows(members))
        except RuleError as error:
            messages.error(
                request, f"This segment cannot be exported: its rules no longer validate: {error}"
            )
            return redirect("segment-detail", pk=segment.pk)
        except SegmentQueryTimedOut as stopped:
            messages.error(request, f"This segment cannot be exported: {stopped.detail}")
            return redirect("segment-detail", pk=segment.pk)
        return stream_csv(
            filename=f"segment-{segment.pk}-{timezone.localtime(now):%Y%m%d-%H%M}.csv",
            header=selectors.MEMBER_EXPORT_HEADER,
            rows=rows,
        )


class SegmentOverlapView(RoleRequiredMixin, View):
    """The overlap fragment (htmx swaps it in when another segment is chosen)."""

    allowed_roles = READ_ROLES

    def get(self, request, pk: int):
        segment = _segment_or_404(pk)
        other = selectors.segment_named_by(request.GET.get("with", ""))
        context = {"segment": segment, "other": other}
        if other is not None:
            try:
                with segment_query_time_limit(replica=True):
                    sizes = selectors.segment_overlap_summary(
                        first=segment, second=other, as_of=timezone.now()
                    )
            except RuleError as error:
                context["problem"] = str(error)
            except SegmentQueryTimedOut as stopped:
                context["problem"] = stopped.detail
            else:
                context["sizes"] = sizes
                context["both_of_first"] = _percent(sizes["both"], sizes["first"])
                context["both_of_second"] = _percent(sizes["both"], sizes["second"])
        return render(request, "segments/segment_overlap.html", context)


class SegmentRefreshView(RoleRequiredMixin, View):
    """POST: start a refresh; answers the progress fragment (htmx) or the segment page."""

    allowed_roles = WRITE_ROLES

    def post(self, request, pk: int):
        segment = _segment_or_404(pk)
        job = refresh.start_segment_refresh(segment=segment, actor=request.user, now=timezone.now())
        if request.headers.get("HX-Request"):
            job.refresh_from_db()
            return render(
                request, "segments/segment_refresh.html", {"segment": segment, "job": job}
            )
        messages.success(request, "The refresh has started.")
        return redirect("segment-detail", pk=segment.pk)


class SegmentRefreshProgressView(RoleRequiredMixin, View):
    """The progress fragment of one refresh job; it polls itself until the job ends."""

    allowed_roles = READ_ROLES

    def get(self, request, pk: int, job_id: int):
        segment = _segment_or_404(pk)
        job = get_object_or_404(selectors.segment_refresh_jobs(segment=segment), pk=job_id)
        return render(request, "segments/segment_refresh.html", {"segment": segment, "job": job})


class SegmentDeleteView(RoleRequiredMixin, View):
    allowed_roles = WRITE_ROLES

    def post(self, request, pk: int):
        segment = _segment_or_404(pk)
        try:
            definitions.delete_segment(segment=segment, actor=request.user, now=timezone.now())
        except DomainRefusal as refusal:
            messages.error(request, f"Not deleted: {refusal.detail}")
            return redirect("segment-detail", pk=segment.pk)
        messages.success(request, f"Segment “{segment.name}” is deleted.")
        return redirect("segment-list")


# Builder ----------------------------------------------------------------------------------


class SegmentCreateView(RoleRequiredMixin, View):
    """The builder on new rules; saving creates the segment."""

    allowed_roles = WRITE_ROLES
    template_name = "segments/segment_builder.html"

    def get(self, request):
        return self._render(SegmentForm(), rules=None)

    def post(self, request):
        form = SegmentForm(request.POST)
        rule_error = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                segment = definitions.create_segment(
                    name=data["name"],
                    description=data["description"],
                    kind=data["kind"],
                    rules=data["rules"],
                    actor=request.user,
                    now=timezone.now(),
                )
            except RuleError as error:
                rule_error = {"path": error.path, "message": error.message}
            except ValidationError as error:
                _show_errors(form, error)
            else:
                messages.success(request, f"Segment “{segment.name}” is saved.")
                return redirect("segment-detail", pk=segment.pk)
        return self._render(form, rules=_posted_rules(request), rule_error=rule_error)

    def _render(self, form, *, rules, rule_error=None, segment=None, duplicate_of=None):
        context = {
            "form": form,
            "segment": segment,
            "duplicate_of": duplicate_of,
            "builder": {
                "rules": rules,
                "error": rule_error,
                "fields": field_catalogue(),
                "operators": dict(Operator.choices),
                "families": dict(FieldFamily.choices),
                "segments": [
                    {"id": other.pk, "name": other.name}
                    for other in selectors.segments_for_list()
                    if segment is None or other.pk != segment.pk
                ],
                "segment": segment.pk if segment else None,
                "preview_url": reverse("api-segment-preview"),
                "values_url": reverse("api-segment-field-values"),
            },
        }
        return render(self.request, self.template_name, context)


class SegmentUpdateView(SegmentCreateView):
    """The builder on a segment's rules; saving changes it (and refreshes it)."""

    def get(self, request, pk: int):
        segment = _segment_or_404(pk)
        if not segment.rules:
            messages.info(request, "An uploaded list has no rules; only its name can change.")
        form = SegmentForm(
            initial={"name": segment.name, "description": segment.description, "kind": segment.kind}
        )
        return self._render(form, rules=segment.rules or None, segment=segment)

    def post(self, request, pk: int):
        segment = _segment_or_404(pk)
        form = SegmentForm(request.POST)
        rule_error = None
        if not segment.rules and not request.POST.get("rules"):
            # An uploaded list has no rules to edit: only its name and description change.
            posted = request.POST.copy()
            posted["rules"] = "{}"
            form = SegmentForm(posted)
        if form.is_valid():
            data = form.cleaned_data
            try:
                definitions.update_segment(
                    segment=segment,
                    name=data["name"],
                    description=data["description"],
                    kind=data["kind"],
                    rules=data["rules"] or None,
                    actor=request.user,
                    now=timezone.now(),
                )
            except RuleError as error:
                rule_error = {"path": error.path, "message": error.message}
            except ValidationError as error:
                _show_errors(form, error)
            else:
                messages.success(request, f"Segment “{data['name']}” is saved.")
                return redirect("segment-detail", pk=segment.pk)
        return self._render(
            form, rules=_posted_rules(request), rule_error=rule_error, segment=segment
        )


class SegmentDuplicateView(SegmentCreateView):
    """The builder on a copy of a segment's rules; saving creates a new segment. An
    uploaded list has no rules to edit: posting here copies it with its members."""

    def get(self, request, pk: int):
        original = _segment_or_404(pk)
        if not original.rules:
            return redirect("segment-detail", pk=original.pk)
        form = SegmentForm(
            initial={
                "name": f"{definitions.COPY_PREFIX}{original.name}"[: definitions.NAME_MAX_LENGTH],
                "description": original.description,
                "kind": original.kind,
            }
        )
        return self._render(form, rules=original.rules, duplicate_of=original)

    def post(self, request, pk: int):
        original = _segment_or_404(pk)
        if original.rules:
            return super().post(request)
        copy = definitions.duplicate_segment(
            segment=original, actor=request.user, now=timezone.now()
        )
        messages.success(request, f"“{copy.name}” is a copy of the uploaded list.")
        return redirect("segment-detail", pk=copy.pk)


class SnapshotUploadView(RoleRequiredMixin, View):
    """Upload a customer-id list as a snapshot segment."""

    allowed_roles = WRITE_ROLES
    template_name = "segments/segment_upload.html"

    def get(self, request):
        return render(request, self.template_name, {"form": SnapshotUploadForm()})

    def post(self, request):
        form = SnapshotUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = uploads.upload_snapshot(
                    name=data["name"],
                    description=data["description"],
                    lines=uploads.read_customer_id_file(data["file"]),
                    actor=request.user,
                    now=timezone.now(),
                )
            except DomainRefusal as refusal:
                form.add_error("file", refusal.detail)
            except ValidationError as error:
                _show_errors(form, error)
            else:
                _report_upload(request, result)
                return redirect("segment-detail", pk=result.segment.pk)
        return render(request, self.template_name, {"form": form}, status=200)


def _report_upload(request, result: uploads.SnapshotUpload) -> None:
    stored = f"{result.stored:,} customer{'s' if result.stored != 1 else ''} stored"
    if result.duplicates:
        stored += (
            f" ({result.duplicates:,} repeated id{'s' if result.duplicates != 1 else ''} once)"
        )
    messages.success(request, f"Snapshot “{result.segment.name}”: {stored}.")
    if result.unknown_count:
        listed = "; ".join(
            f"line {line['line']}: {line['customer_id']}"
            for line in result.unknown[:UPLOAD_LISTED_UNKNOWN]
        )
        more = result.unknown_count - min(result.unknown_count, UPLOAD_LISTED_UNKNOWN)
        ids = "id" if result.unknown_count == 1 else "ids"
        messages.warning(
            request,
            f"{result.unknown_count:,} unknown customer {ids} not stored "
            f"({listed}{f'; and {more:,} more' if more else ''}).",
        )


def _posted_rules(request):
    """The rules the marketer posted (even refused ones), to show them again; None when
    they are not JSON or too deeply nested to decode (the form says which)."""
    try:
        rules = load_json_text(request.POST.get("rules", ""))
    except ValueError:
        return None
    return rules if isinstance(rules, dict) and rules else None


def _show_errors(form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, field_messages in error.message_dict.items():
        form.add_error(name if name in form.fields else None, field_messages)

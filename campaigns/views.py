"""Marketer pages of campaigns: coupon templates, the campaign list, the wizard, the
campaign page with its status actions, and the lists of issued coupons and redemptions.

Marketers configure (WRITE_ROLES); marketers and analysts read (READ_ROLES). Writes call
campaigns.services; their refusals come back as form errors or as one message per reason.
"""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from campaigns import coupon_lists, selectors, share_links
from campaigns.exceptions import (
    CampaignActionRefused,
    ClaimRefused,
    IdempotencyKeyReused,
    PartnerCodeUnavailable,
    ShareClaimRejectedError,
)
from campaigns.filters import (
    CampaignFilterSet,
    CouponFilterSet,
    CouponTemplateFilterSet,
    RedemptionFilterSet,
)
from campaigns.forms import (
    CampaignForm,
    CouponTemplateForm,
    ResourceFormSet,
    ShareClaimForm,
    ValuesQueryForm,
)
from campaigns.models import Campaign, CouponTemplate
from campaigns.services import campaign_setup, coupon_templates, lifecycle
from campaigns.services.share_claims import claim_on_share_page
from crm.core.csv_export import stream_csv
from crm.core.permissions import READ_ROLES, WRITE_ROLES, RoleRequiredMixin, has_role
from segments.models import Segment

# The status actions of the campaign page, in the order the buttons appear.
ACTIONS = {
    "schedule": (lifecycle.schedule_campaign, "Schedule"),
    "start": (lifecycle.start_campaign, "Start now"),
    "pause": (lifecycle.pause_campaign, "Pause"),
    "resume": (lifecycle.resume_campaign, "Resume"),
    "finish": (lifecycle.finish_campaign, "Finish now"),
    "cancel": (lifecycle.cancel_campaign, "Cancel campaign"),
}
# Asked before acting: these cannot be undone.
CONFIRM = {
    "start": "Start the campaign now? Its claim window opens at once; its end stays.",
    "finish": "Finish the campaign now? Claims stop for good; issued coupons stay valid.",
    "cancel": "Cancel the campaign? Claims stop for good; issued coupons stay valid.",
}

CAMPAIGN_EXPORT_HEADER = (
    "code",
    "name",
    "status",
    "business_line",
    "campaign_type",
    "segment",
    "cities",
    "claim_starts_at",
    "claim_ends_at",
    "trigger",
    "channels",
    "resources",
    "daily_limit_per_customer",
    "limit_per_customer",
    "stock",
    "issued_count",
    "budget",
    "spent",
    "holdout_share",
)
TEMPLATE_EXPORT_HEADER = (
    "code",
    "name",
    "kind",
    "face_value",
    "max_discount",
    "threshold",
    "valid_from",
    "valid_until",
    "valid_days",
    "categories",
    "skus",
    "stores",
    "cities",
    "cost_bearer",
)
# Rows per database round trip while streaming an export (prefetches run per chunk).
EXPORT_CHUNK_SIZE = 1000


def show_errors(form: Form, error: ValidationError, *, renamed: dict | None = None) -> None:
    """Put a service's ValidationError on the form, field by field where the form has it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, field_messages in error.message_dict.items():
        name = (renamed or {}).get(name, name)
        form.add_error(name if name in form.fields else None, field_messages)


def _local_iso(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="minutes") if moment else ""


def _page_range(context: dict):
    return context["paginator"].get_elided_page_range(
        context["page_obj"].number, on_each_side=2, on_ends=1
    )


def _filters_active(request) -> bool:
    return any(value.strip() for name, value in request.GET.items() if name != "page")


class FilteredListView(RoleRequiredMixin, ListView):
    """A list page: the filterset `make_filterset` builds from the query string, 50 rows a
    page, with the filters and the page links in the context."""

    allowed_roles = READ_ROLES
    paginate_by = 50

    def make_filterset(self, request):
        raise NotImplementedError

    def get_queryset(self):
        self.filterset = self.make_filterset(self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filterset"] = self.filterset
        context["filters_active"] = _filters_active(self.request)
        context["page_range"] = _page_range(context)
        return context


# Coupon templates -----------------------------------------------------------------------


def _template_filterset(request) -> CouponTemplateFilterSet:
    return CouponTemplateFilterSet(
        request.GET or None, queryset=selectors.coupon_templates_for_list()
    )


class CouponTemplateListView(FilteredListView):
    template_name = "campaigns/coupon_template_list.html"
    context_object_name = "templates"

    def make_filterset(self, request):
        return _template_filterset(request)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_edit"] = has_role(self.request.user, WRITE_ROLES)
        return context


class CouponTemplateExportView(RoleRequiredMixin, View):
    """The filtered template list as CSV (same filters as the list page)."""

    allowed_roles = READ_ROLES

    def get(self, request):
        rows: Iterator[list] = (
            [
                template.code,
                template.name,
                template.kind,
                template.face_value,
                template.max_discount,
                template.threshold,
                _local_iso(template.valid_from),
                _local_iso(template.valid_until),
                template.valid_days,
                ";".join(template.categories),
                ";".join(template.skus),
                ";".join(template.stores),
                ";".join(template.cities),
                template.cost_bearer,
            ]
            for template in _template_filterset(request).qs.iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return stream_csv(
            filename=f"coupon-templates-{stamp}.csv", header=TEMPLATE_EXPORT_HEADER, rows=rows
        )


class CouponTemplateCreateView(RoleRequiredMixin, View):
    allowed_roles = WRITE_ROLES
    template_name = "campaigns/coupon_template_form.html"

    def get(self, request):
        return self._render(CouponTemplateForm())

    def post(self, request):
        form = CouponTemplateForm(request.POST)
        if form.is_valid():
            try:
                template = coupon_templates.create_coupon_template(
                    fields=form.template_fields(), actor=request.user, now=timezone.now()
                )
            except ValidationError as error:
                show_errors(form, error)
            else:
                messages.success(request, f"Coupon template {template.code} is created.")
                _warn(request, template)
                return redirect("coupon-template-list")
        return self._render(form)

    def _render(self, form):
        return render(self.request, self.template_name, {"form": form, "template": None})


class CouponTemplateUpdateView(RoleRequiredMixin, View):
    allowed_roles = WRITE_ROLES
    template_name = "campaigns/coupon_template_form.html"

    def get(self, request, code: str):
        template = get_object_or_404(CouponTemplate, code=code)
        return self._render(CouponTemplateForm(template=template), template)

    def post(self, request, code: str):
        template = get_object_or_404(CouponTemplate, code=code)
        form = CouponTemplateForm(request.POST, template=template)
        if form.is_valid():
            try:
                template = coupon_templates.update_coupon_template(
                    template=template,
                    fields=form.template_fields(),
                    actor=request.user,
                    now=timezone.now(),
                )
            except ValidationError as error:
                show_errors(form, error)
            except CampaignActionRefused as refusal:
                form.add_error(None, refusal.reasons)
            else:
                messages.success(request, f"Coupon template {template.code} is saved.")
                _warn(request, template)
                return redirect("coupon-template-list")
        return self._render(form, template)

    def _render(self, form, template):
        context = {
            "form": form,
            "template": template,
            "in_use": selectors.is_coupon_template_in_use(template=template),
            "warnings": selectors.restriction_warnings(template=template),
        }
        return render(self.request, self.template_name, context)


def _warn(request, template: CouponTemplate) -> None:
    """The saved template's restriction values no order holds, one message each: saved, and
    the marketer knows before a campaign hands it out."""
    for warning in selectors.restriction_warnings(template=template):
        messages.warning(request, warning)


class CampaignValuesView(RoleRequiredMixin, View):
    """The values a pick list offers (GET ?field=&search=): JSON {"field", "values"}, the
    values the data holds, most frequent first (campaigns.selectors.values_in_data)."""

    allowed_roles = READ_ROLES

    def get(self, request):
        form = ValuesQueryForm(request.GET)
        if not form.is_valid():
            errors = {name: list(problems) for name, problems in form.errors.items()}
            return JsonResponse(errors, status=400)
        field = form.cleaned_data["field"]
        values = selectors.values_in_data(field=field, search=form.cleaned_data["search"])
        return JsonResponse({"field": field, "values": values})


# Campaigns ------------------------------------------------------------------------------


def _campaign_filterset(request) -> CampaignFilterSet:
    return CampaignFilterSet(request.GET or None, queryset=selectors.campaigns_for_list())


class CampaignListView(FilteredListView):
    template_name = "campaigns/campaign_list.html"
    context_object_name = "campaigns"

    def make_filterset(self, request):
        return _campaign_filterset(request)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["business_lines"] = selectors.business_lines()
        context["can_edit"] = has_role(self.request.user, WRITE_ROLES)
        return context


class CampaignExportView(RoleRequiredMixin, View):
    """The filtered campaign list as CSV (same filters as the list page)."""

    allowed_roles = READ_ROLES

    def get(self, request):
        queryset = _campaign_filterset(request).qs
        rows: Iterator[list] = (
            [
                campaign.code,
                campaign.name,
                campaign.status,
                campaign.business_line,
                campaign.campaign_type,
                campaign.segment.name,
                ";".join(campaign.cities),
                _local_iso(campaign.claim_starts_at),
                _local_iso(campaign.claim_ends_at),
                campaign.trigger,
                ";".join(channel.code for channel in campaign.channels.all()),
                ";".join(
                    f"{resource.template.code}x{resource.quantity}"
                    for resource in campaign.resources.all()
                ),
                campaign.daily_limit_per_customer,
                campaign.limit_per_customer,
                campaign.stock,
                campaign.issued_count,
                campaign.budget,
                campaign.spent,
                campaign.holdout_share,
            ]
            for campaign in queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return stream_csv(
            filename=f"campaigns-{stamp}.csv", header=CAMPAIGN_EXPORT_HEADER, rows=rows
        )


class CampaignCreateView(RoleRequiredMixin, View):
    """The wizard: one page in sections, saved as a draft."""

    allowed_roles = WRITE_ROLES
    template_name = "campaigns/campaign_form.html"

    def get(self, request):
        # Tomorrow at midnight for a week: the usual shape; the marketer changes it.
        start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        start += timedelta(days=1)
        initial = {"claim_starts_at": start, "claim_ends_at": start + timedelta(days=7)}
        if request.GET.get("segment"):
            initial["segment"] = request.GET["segment"]
        form = CampaignForm(initial=initial)
        formset = ResourceFormSet(prefix="resources", initial=[{"quantity": 1}])
        return self._render(form, formset)

    def post(self, request):
        form = CampaignForm(request.POST)
        formset = ResourceFormSet(request.POST, prefix="resources")
        if form.is_valid() and formset.is_valid():
            try:
                campaign = campaign_setup.create_campaign(
                    fields=form.campaign_fields(),
                    resources=formset.resources(),
                    channels=list(form.cleaned_data["channels"]),
                    actor=request.user,
                    now=timezone.now(),
                )
            except ValidationError as error:
                show_errors(form, error, renamed=CampaignForm.FIELD_FOR_ERROR)
            else:
                messages.success(
                    request,
                    f"Campaign {campaign.code} is saved as a draft. Schedule it when it is ready.",
                )
                return redirect("campaign-detail", code=campaign.code)
        return self._render(form, formset)

    def _render(self, form, formset, campaign=None):
        context = {
            "form": form,
            "formset": formset,
            "campaign": campaign,
            "open_for_edits": campaign is None or campaign.status in campaign_setup.OPEN_STATUSES,
            "has_segments": Segment.objects.exists(),
            "business_lines": selectors.business_lines(),
        }
        return render(self.request, self.template_name, context)


class CampaignUpdateView(CampaignCreateView):
    """The wizard on an existing campaign; a live one offers only the fields it may change."""

    def get(self, request, code: str):
        campaign = get_object_or_404(Campaign, code=code)
        form = CampaignForm(
            initial=CampaignForm.initial_for(campaign), editable=_editable(campaign)
        )
        formset = ResourceFormSet(
            prefix="resources",
            initial=[
                {"template": resource.template, "quantity": resource.quantity}
                for resource in campaign.resources.select_related("template").order_by("pk")
            ],
        )
        return self._render(form, formset, campaign)

    def post(self, request, code: str):
        campaign = get_object_or_404(Campaign, code=code)
        editable = _editable(campaign)
        form = CampaignForm(
            request.POST, initial=CampaignForm.initial_for(campaign), editable=editable
        )
        is_open = campaign.status in campaign_setup.OPEN_STATUSES
        formset = ResourceFormSet(request.POST if is_open else None, prefix="resources")
        if form.is_valid() and (not is_open or formset.is_valid()):
            try:
                campaign_setup.update_campaign(
                    campaign=campaign,
                    fields=form.campaign_fields(),
                    resources=formset.resources() if is_open else None,
                    channels=list(form.cleaned_data["channels"]) if is_open else None,
                    actor=request.user,
                    now=timezone.now(),
                )
            except ValidationError as error:
                show_errors(form, error, renamed=CampaignForm.FIELD_FOR_ERROR)
            except CampaignActionRefused as refusal:
                form.add_error(None, refusal.reasons)
            else:
                messages.success(request, f"Campaign {campaign.code} is saved.")
                return redirect("campaign-detail", code=campaign.code)
        return self._render(form, formset, campaign)


def _editable(campaign: Campaign) -> frozenset[str] | None:
    """The form fields a campaign in its status may change (None: all but the code)."""
    if campaign.status in campaign_setup.OPEN_STATUSES:
        return frozenset(CampaignForm.base_fields) - {"code"}
    if campaign.status in campaign_setup.LIVE_STATUSES:
        return campaign_setup.LIVE_EDITABLE_FIELDS
    return campaign_setup.ENDED_EDITABLE_FIELDS


class CampaignDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READ_ROLES
    template_name = "campaigns/campaign_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            detail = selectors.campaign_detail(code=kwargs["code"], as_of=timezone.now())
        except Campaign.DoesNotExist:
            raise Http404("No campaign with this code.") from None
        campaign = detail.campaign
        context["detail"] = detail
        context["campaign"] = campaign
        context["can_edit"] = has_role(self.request.user, WRITE_ROLES)
        context["actions"] = [
            {"name": name, "label": label, "confirm": CONFIRM.get(name, "")}
            for name, (_, label) in ACTIONS.items()
            if campaign.status in lifecycle.ALLOWED_FROM[name]
        ]
        context["stock_left"] = campaign.stock - campaign.issued_count
        context["budget_left"] = campaign.budget - campaign.spent
        context["holdout_percent"] = (campaign.holdout_share * 100).quantize(Decimal("0.1"))
        context["refusals_total"] = sum(row.refusals for row in detail.refusals)
        context["pushes_running"] = any(push.is_running for push in detail.pushes)
        return context


class CampaignPushProgressView(RoleRequiredMixin, TemplateView):
    """The push panel of the campaign page, polled while a push runs."""

    allowed_roles = READ_ROLES
    template_name = "campaigns/push_progress.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        campaign = get_object_or_404(Campaign, code=kwargs["code"])
        pushes = selectors.push_progress(runs=list(selectors.campaign_pushes(campaign=campaign)))
        running = any(push.is_running for push in pushes)
        context.update(campaign=campaign, pushes=pushes, pushes_running=running)
        return context


class CampaignActionView(RoleRequiredMixin, View):
    """POST action=schedule|start|pause|resume|finish|cancel: one lifecycle service each."""

    allowed_roles = WRITE_ROLES

    def post(self, request, code: str):
        campaign = get_object_or_404(Campaign, code=code)
        name = request.POST.get("action", "")
        if name not in ACTIONS:
            return HttpResponseBadRequest(f"Unknown action {name!r}.")
        service, label = ACTIONS[name]
        try:
            campaign = service(campaign=campaign, actor=request.user, now=timezone.now())
        except CampaignActionRefused as refusal:
            for reason in refusal.reasons:
                messages.error(request, f"{label} refused: {reason}.")
        else:
            messages.success(
                request, f"Campaign {campaign.code} is {campaign.get_status_display().lower()}."
            )
        return redirect("campaign-detail", code=code)


class CampaignAudienceSizeView(RoleRequiredMixin, View):
    """The wizard's live audience size (htmx swaps this fragment in on segment change)."""

    allowed_roles = READ_ROLES

    def get(self, request):
        segment_id = request.GET.get("segment", "")
        segment = Segment.objects.filter(pk=segment_id).first() if segment_id.isdigit() else None
        audience = (
            selectors.audience_size(segment=segment, as_of=timezone.now()) if segment else None
        )
        return render(
            request, "campaigns/audience_size.html", {"segment": segment, "audience": audience}
        )


# Issued coupons and redemptions ---------------------------------------------------------

COUPON_EXPORT_HEADER = (
    "code",
    "customer_id",
    "campaign",
    "template",
    "channel",
    "status",
    "issued_at",
    "valid_from",
    "valid_until",
    "redeemed_at",
)
REDEMPTION_EXPORT_HEADER = (
    "coupon",
    "customer_id",
    "campaign",
    "channel",
    "order_id",
    "order_amount",
    "discount",
    "store",
    "city",
    "redeemed_at",
    "status",
    "reversed_at",
)


def _local_seconds(moment) -> str:
    # Seconds kept: claims and redemptions are often minutes apart at the day's edge.
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


def _bad_filters(filterset) -> HttpResponse | None:
    """A 400 naming each bad filter value: an export never quietly drops a filter the
    marketer asked for (the page shows the same errors beside its fields)."""
    if not filterset.is_bound or filterset.is_valid():
        return None
    lines = [f"{name}: {' '.join(problems)}" for name, problems in filterset.form.errors.items()]
    return HttpResponseBadRequest(
        "Fix these filters and export again:\n" + "\n".join(lines),
        content_type="text/plain; charset=utf-8",
    )


def _coupon_filterset(request) -> CouponFilterSet:
    return CouponFilterSet(request.GET or None, queryset=coupon_lists.coupons_for_list())


def _redemption_filterset(request) -> RedemptionFilterSet:
    return RedemptionFilterSet(request.GET or None, queryset=coupon_lists.redemptions_for_list())


class CouponListView(FilteredListView):
    """Every issued coupon, newest first, filtered by campaign, channel, status, day issued
    and customer. Shows no phone or e-mail (coupon_lists defers them)."""

    template_name = "campaigns/coupon_list.html"
    context_object_name = "coupons"

    def make_filterset(self, request):
        return _coupon_filterset(request)


class CouponExportView(RoleRequiredMixin, View):
    """The filtered coupon list as CSV (same filters as the list page); times in the
    operator's zone."""

    allowed_roles = READ_ROLES

    def get(self, request):
        filterset = _coupon_filterset(request)
        if refused := _bad_filters(filterset):
            return refused
        rows: Iterator[list] = (
            [
                coupon.code,
                coupon.customer.customer_id,
                coupon.campaign.code,
                coupon.template.code,
                coupon.grant.channel.code,
                coupon.status,
                _local_seconds(coupon.issued_at),
                _local_seconds(coupon.valid_from),
                _local_seconds(coupon.valid_until),
                _local_seconds(coupon.redeemed_at),
            ]
            for coupon in filterset.qs.iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return stream_csv(filename=f"coupons-{stamp}.csv", header=COUPON_EXPORT_HEADER, rows=rows)


class RedemptionListView(FilteredListView):
    """Every redemption, newest first, reversed ones marked, with the filtered set's totals
    above the table."""

    template_name = "campaigns/redemption_list.html"
    context_object_name = "redemptions"

    def make_filterset(self, request):
        return _redemption_filterset(request)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["totals"] = coupon_lists.redemption_totals(redemptions=self.filterset.qs)
        return context


class RedemptionExportView(RoleRequiredMixin, View):
    """The filtered redemption list as CSV (same filters as the list page)."""

    allowed_roles = READ_ROLES

    def get(self, request):
        filterset = _redemption_filterset(request)
        if refused := _bad_filters(filterset):
            return refused
        rows: Iterator[list] = (
            [
                redemption.coupon.code,
                redemption.customer.customer_id,
                redemption.coupon.campaign.code,
                redemption.coupon.grant.channel.code,
                redemption.order_id,
                redemption.order_amount,
                redemption.discount,
                redemption.store,
                redemption.city,
                _local_seconds(redemption.redeemed_at),
                "reversed" if redemption.reversed_at else "live",
                _local_seconds(redemption.reversed_at),
            ]
            for redemption in filterset.qs.iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return stream_csv(
            filename=f"redemptions-{stamp}.csv", header=REDEMPTION_EXPORT_HEADER, rows=rows
        )


class ShareLinkView(View):
    """The public share page of a shared red envelope (no login: the shop links to it).
    GET shows the envelope and what each repeated claim gets; POST claims it for the member
    whose phone number is typed. Bad input answers 400 naming it, a refusal 409 with its
    reason in words, a partner's platform that issued no code 503."""

    template_name = "campaigns/share_link.html"

    def get(self, request, code: str):
        envelope = self._envelope(code)
        form = ShareClaimForm(initial={"attempt": uuid.uuid4().hex})
        return render(request, self.template_name, {"envelope": envelope, "form": form})

    def post(self, request, code: str):
        envelope = self._envelope(code)
        form = ShareClaimForm(request.POST)
        context = {"envelope": envelope, "form": form}
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        try:
            result = claim_on_share_page(
                envelope=envelope,
                phone=form.cleaned_data["phone"],
                attempt=form.cleaned_data["attempt"],
                now=timezone.now(),
            )
        except ShareClaimRejectedError as rejected:
            field = rejected.field if rejected.field in form.fields else None
            form.add_error(field, rejected.message)
            return render(request, self.template_name, context, status=400)
        except IdempotencyKeyReused:
            form.add_error(None, "This page was already used for another number: reload it.")
            return render(request, self.template_name, context, status=409)
        except ClaimRefused as refusal:
            context["refusal"] = SHARE_REFUSALS.get(refusal.reason, refusal.detail)
            return render(request, self.template_name, context, status=409)
        except PartnerCodeUnavailable:
            context["refusal"] = "The envelope could not be opened just now: try again later."
            return render(request, self.template_name, context, status=503)
        # A fresh attempt for the next claim from this page.
        context["form"] = ShareClaimForm(
            initial={"phone": form.cleaned_data["phone"], "attempt": uuid.uuid4().hex}
        )
        context["result"] = result
        return render(request, self.template_name, context)

    def _envelope(self, code: str) -> share_links.SharedEnvelope:
        envelope = share_links.shared_envelope(code=code, now=timezone.now())
        if envelope is None:
            raise Http404("No shared red envelope with this code.")
        return envelope


# The engine's refusals as the customer reads them on the share page.
SHARE_REFUSALS = {
    "not_running": "This envelope is not open.",
    "outside_window": "This envelope is not open at this time.",
    "out_of_scope": "This envelope is not for your city.",
    "channel_not_in_campaign": "This envelope cannot be claimed here.",
    "trigger_not_in_campaign": "This envelope cannot be claimed here.",
    "not_in_audience": "This envelope is for other members.",
    "holdout": "This envelope is for other members.",
    "daily_limit": "You have claimed this envelope as often as you may today.",
    "campaign_limit": "You have claimed this envelope as often as you may.",
    "out_of_stock": "All the envelopes have been claimed.",
    "budget_exhausted": "All the envelopes have been claimed.",
    "harassment_cap": "You hold many unused coupons already: use some first.",
    "harassment_interval": "You got this coupon recently: come back later.",
}

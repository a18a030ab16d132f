"""Forms of the campaign pages; they check shape only (house rule 1).

Values and their combinations (percent cap, window order, limits, stock and budget against
what was issued) are decided by campaigns.services.coupon_templates and .campaign_setup,
whose ValidationError messages the views put back on these forms field by field.
"""

from decimal import Decimal

from django import forms
from django.urls import reverse

from campaigns.enums import (
    AmountDistribution,
    CampaignType,
    CostBearer,
    CouponKind,
    EnvelopeKind,
    Trigger,
)
from campaigns.models import CouponTemplate
from campaigns.restrictions import RESTRICTIONS
from campaigns.selectors import VALUE_SOURCES
from campaigns.services.campaign_setup import ResourceSpec
from crm.enums import ChannelKind
from crm.models import Channel
from segments.models import Segment

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
LIST_HELP = (
    "Picked from the codes the orders carry (type to search); leave empty for no restriction. "
    "A value no order holds yet (a new SKU) is saved with a warning."
)
# The template's restriction fields and the pick list each is chosen from (VALUE_SOURCES of
# campaigns.selectors, served by CampaignValuesView; static/js/campaign_wizard.js).
RESTRICTION_PICK_LISTS = {restriction.field: restriction.values for restriction in RESTRICTIONS}
# Holdout share is stored as a fraction with 3 decimals (0.125); the page takes a percent.
HOLDOUT_STEP = Decimal("0.1")


def pick_list(widget: forms.Widget, source: str) -> None:
    """Make `widget` (a text input of comma-separated codes) a pick list of `source`'s values."""
    widget.attrs["data-pick-list"] = f"{reverse('campaign-values')}?field={source}"


def _joined(values: list[str]) -> str:
    return ", ".join(values)


class CouponTemplateForm(forms.Form):
    code = forms.SlugField(
        max_length=40,
        help_text="Letters, digits and dashes, e.g. ten-off-fifty. It never changes.",
    )
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=CouponKind.choices)
    face_value = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        label="Face value",
        help_text="Money off (red envelope, gift), % off (percent discount) or points.",
    )
    max_discount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        label="Maximum discount",
        help_text="Percent discounts only: the largest discount one coupon gives.",
    )
    threshold = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        initial=Decimal("0"),
        label="Minimum order amount",
        help_text="0 means no minimum.",
    )
    validity = forms.ChoiceField(
        label="Use validity",
        choices=(("relative", "Days after the claim"), ("fixed", "Fixed dates")),
        initial="relative",
        widget=forms.RadioSelect,
    )
    valid_days = forms.IntegerField(required=False, min_value=1, label="Valid for (days)")
    valid_from = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="Valid from")
    valid_until = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="Valid until")
    categories = forms.CharField(required=False, help_text=LIST_HELP)
    skus = forms.CharField(required=False, label="SKUs", help_text=LIST_HELP)
    stores = forms.CharField(required=False, help_text=LIST_HELP)
    cities = forms.CharField(required=False, help_text=LIST_HELP)
    cost_bearer = forms.ChoiceField(
        choices=CostBearer.choices, initial=CostBearer.PLATFORM, label="Cost borne by"
    )
    partner = forms.ModelChoiceField(
        queryset=Channel.objects.filter(kind=ChannelKind.PARTNER),
        required=False,
        to_field_name="code",
        empty_label="— our own codes —",
        label="Codes issued by partner",
        help_text="Cross-industry coupons: the partner's platform issues each code when "
        "the coupon is granted.",
    )

    def __init__(self, *args, template: CouponTemplate | None = None, **kwargs):
        if template is not None:
            kwargs.setdefault("initial", self.initial_for(template))
        super().__init__(*args, **kwargs)
        if template is not None:
            self.fields["code"].disabled = True
        for name, source in RESTRICTION_PICK_LISTS.items():
            pick_list(self.fields[name].widget, source)

    @staticmethod
    def initial_for(template: CouponTemplate) -> dict:
        return {
            "code": template.code,
            "name": template.name,
            "kind": template.kind,
            "face_value": template.face_value,
            "max_discount": template.max_discount,
            "threshold": template.threshold,
            "validity": "relative" if template.valid_days else "fixed",
            "valid_days": template.valid_days,
            "valid_from": template.valid_from,
            "valid_until": template.valid_until,
            "categories": _joined(template.categories),
            "skus": _joined(template.skus),
            "stores": _joined(template.stores),
            "cities": _joined(template.cities),
            "cost_bearer": template.cost_bearer,
            "partner": template.partner,
        }

    def clean(self):
        cleaned_data = super().clean()
        # Only the fields of the chosen validity count; the others are cleared.
        if cleaned_data.get("validity") == "fixed":
            cleaned_data["valid_days"] = None
            for name, what in (("valid_from", "start"), ("valid_until", "end")):
                if not cleaned_data.get(name) and name not in self.errors:
                    self.add_error(name, f"Fixed dates need their {what}.")
        else:
            cleaned_data["valid_from"] = cleaned_data["valid_until"] = None
            if cleaned_data.get("valid_days") is None and "valid_days" not in self.errors:
                self.add_error(
                    "valid_days", "Say how many days the coupon stays valid after the claim."
                )
        return cleaned_data

    def template_fields(self) -> dict:
        """The cleaned values as coupon_templates.create/update_coupon_template take them."""
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "code",
                "name",
                "kind",
                "face_value",
                "max_discount",
                "threshold",
                "valid_days",
                "valid_from",
                "valid_until",
                "categories",
                "skus",
                "stores",
                "cities",
                "cost_bearer",
                "partner",
            )
        }


ENVELOPE_FIELDS = (
    "envelope_kind",
    "decay_ratio",
    "decay_floor",
    "random_min",
    "random_max",
    "random_distribution",
)


class CampaignForm(forms.Form):
    """The wizard's single page: audience, window, limits, stock and budget, delivery."""

    name = forms.CharField(max_length=120)
    code = forms.SlugField(
        max_length=40,
        help_text="The shop's integrations claim with it, e.g. summer-snacks-2026. "
        "It never changes.",
    )
    business_line = forms.CharField(
        max_length=60,
        label="Business line",
        help_text="Two live campaigns of one business line may not target one audience at "
        "the same time.",
    )
    campaign_type = forms.ChoiceField(
        choices=CampaignType.choices, initial=CampaignType.TARGETED, label="Type"
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), label="Audience segment", empty_label=None
    )
    cities = forms.CharField(
        required=False,
        label="City scope",
        help_text="Picked from the customers' cities (type to search); leave empty to serve "
        "every city.",
    )
    holdout_percent = forms.DecimalField(
        min_value=0,
        max_value=Decimal("99.9"),
        decimal_places=1,
        initial=Decimal("0"),
        label="Holdout (% of the audience)",
        help_text="A random, stable share kept untreated to measure lift; 0 for none.",
    )
    claim_starts_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Claims open")
    claim_ends_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Claims close")
    daily_limit_per_customer = forms.IntegerField(
        min_value=1, initial=1, label="Grants per customer per day"
    )
    limit_per_customer = forms.IntegerField(
        min_value=1, initial=1, label="Grants per customer in all"
    )
    stock = forms.IntegerField(min_value=1, label="Stock (coupons)")
    budget = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="Total face value the campaign may give (percent coupons: their cap).",
    )
    trigger = forms.ChoiceField(choices=Trigger.choices, initial=Trigger.SELF)
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.order_by("kind", "code"),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Where the campaign reaches customers; needed before scheduling.",
    )
    members_only = forms.BooleanField(
        required=False,
        label="Members only",
        help_text="A member incentive: only loyalty members of the segment are granted.",
    )
    member_tiers = forms.CharField(
        required=False,
        label="Member tiers",
        help_text="Only these tiers (picked from the customers' tiers); empty: any member.",
    )
    envelope_kind = forms.ChoiceField(
        choices=EnvelopeKind.choices,
        required=False,
        label="Red envelope",
        help_text="Shared: the same customer's later claims get less; random: each grant's "
        "amount is drawn. Both grant one cash coupon.",
    )
    decay_ratio = forms.DecimalField(
        required=False, min_value=Decimal("0.001"), max_value=1, decimal_places=3,
        label="2nd claim gets (x amount)",
    )  # fmt: skip
    decay_floor = forms.DecimalField(
        required=False, min_value=Decimal("0.01"), decimal_places=2,
        label="3rd and later claims get",
    )  # fmt: skip
    random_min = forms.DecimalField(
        required=False, min_value=Decimal("0.01"), decimal_places=2, label="Smallest amount"
    )
    random_max = forms.DecimalField(
        required=False, min_value=Decimal("0.01"), decimal_places=2, label="Largest amount"
    )
    random_distribution = forms.ChoiceField(
        choices=AmountDistribution.choices, required=False, label="Amounts drawn"
    )

    # Service error keys that are named differently on this form.
    FIELD_FOR_ERROR = {"holdout_share": "holdout_percent"}

    def __init__(self, *args, editable: frozenset[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channels"].label_from_instance = lambda channel: (
            f"{channel.name} ({channel.get_kind_display().lower()})"
        )
        # The live audience size: htmx asks for it on load and whenever the segment changes.
        self.fields["segment"].widget.attrs.update(
            {
                "hx-get": reverse("campaign-audience-size"),
                "hx-trigger": "load, change",
                "hx-target": "#audience-size",
            }
        )
        self.fields["business_line"].widget.attrs["list"] = "business-lines"
        # The engine compares the scope with the customer's city.
        pick_list(self.fields["cities"].widget, "customer_city")
        pick_list(self.fields["member_tiers"].widget, "member_tier")
        if editable is not None:
            for name, field in self.fields.items():
                if name not in editable:
                    field.disabled = True

    @staticmethod
    def initial_for(campaign) -> dict:
        return {
            "name": campaign.name,
            "code": campaign.code,
            "business_line": campaign.business_line,
            "campaign_type": campaign.campaign_type,
            "segment": campaign.segment_id,
            "cities": _joined(campaign.cities),
            "holdout_percent": (campaign.holdout_share * 100).quantize(HOLDOUT_STEP),
            "members_only": campaign.members_only,
            "member_tiers": _joined(campaign.member_tiers),
            "claim_starts_at": campaign.claim_starts_at,
            "claim_ends_at": campaign.claim_ends_at,
            "daily_limit_per_customer": campaign.daily_limit_per_customer,
            "limit_per_customer": campaign.limit_per_customer,
            "stock": campaign.stock,
            "budget": campaign.budget,
            "trigger": campaign.trigger,
            "channels": list(campaign.channels.all()),
            **{
                name: getattr(campaign, name)
                for name in ENVELOPE_FIELDS
                if getattr(campaign, name) is not None
            },
        }

    def campaign_fields(self) -> dict:
        """The values the marketer could edit, as campaign_setup.create/update_campaign take
        them; disabled fields (what the campaign's status locks) are left out."""
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in (
                "code",
                "name",
                "business_line",
                "campaign_type",
                "segment",
                "cities",
                "claim_starts_at",
                "claim_ends_at",
                "trigger",
                "daily_limit_per_customer",
                "limit_per_customer",
                "stock",
                "budget",
                "members_only",
                "member_tiers",
                *ENVELOPE_FIELDS,
            )
            if not self.fields[name].disabled
        }
        if not self.fields["holdout_percent"].disabled:
            fields["holdout_share"] = (data["holdout_percent"] / 100).quantize(Decimal("0.001"))
        return fields


class ValuesQueryForm(forms.Form):
    """The query of a pick list: which values, and an optional search."""

    field = forms.ChoiceField(choices=[(name, name) for name in VALUE_SOURCES])
    search = forms.CharField(required=False, max_length=100)


class ResourceForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=CouponTemplate.objects.order_by("code"),
        to_field_name="code",
        label="Coupon template",
        required=False,
    )
    quantity = forms.IntegerField(min_value=1, initial=1, label="Coupons per grant")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].label_from_instance = lambda template: (
            f"{template.code} · {template.name}"
        )


class BaseResourceFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        chosen = [
            form.cleaned_data["template"]
            for form in self.forms
            if form.cleaned_data.get("template") and not self._should_delete_form(form)
        ]
        if len(set(chosen)) != len(chosen):
            raise forms.ValidationError(
                "Each coupon template may appear once; raise its quantity instead."
            )

    def resources(self) -> list[ResourceSpec]:
        """The chosen templates and quantities; blank and removed rows are left out."""
        return [
            ResourceSpec(
                template=form.cleaned_data["template"], quantity=form.cleaned_data["quantity"]
            )
            for form in self.forms
            if form.cleaned_data.get("template") and not self._should_delete_form(form)
        ]


ResourceFormSet = forms.formset_factory(
    ResourceForm, formset=BaseResourceFormSet, extra=0, can_delete=True
)


class CouponActionReasonForm(forms.Form):
    """The admin's intermediate page of revoke and reissue: why (kept in the audit log)."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the audit log with your name, e.g. “complaint #4411: sent twice”.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why; the audit log keeps the reason.")
        return reason


class ShareClaimForm(forms.Form):
    """The share page's claim: the member's phone number, and the page view's attempt
    token (the claim's idempotency key: the same form sent twice claims once)."""

    phone = forms.CharField(
        max_length=32,
        label="Your member phone number",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    attempt = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)

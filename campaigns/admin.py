"""The admin of campaigns: support staff look coupons up and revoke or reissue them;
superusers may also edit templates, campaigns and the anti-harassment settings.

Declarative first, hooks second. Nothing here writes domain rows itself: every save and
every action calls campaigns.services, which validate, lock and write the audit entry.
Forms run the services' check functions in clean(), so a refusal shows as a form error.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors
from campaigns.exceptions import CampaignActionRefused
from campaigns.forms import CouponActionReasonForm
from campaigns.models import (
    AudienceMember,
    Campaign,
    Coupon,
    CouponEvent,
    CouponTemplate,
    DeliveryBatch,
    DeliveryRun,
    Grant,
    HarassmentSettings,
    Message,
    Redemption,
)
from campaigns.services import campaign_setup, coupon_templates, harassment_settings, support
from campaigns.services.claims import current_harassment_settings
from crm import admin as crm_admin
from crm.core.api import DomainRefusal
from crm.models import Customer

# Coupons shown by name on the revoke/reissue page; the rest are counted.
REASON_PAGE_LISTED = 100
# A customer's latest coupons on the customer's admin page; the coupon list has them all.
CUSTOMER_LATEST_COUPONS = 50


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the engine: looked at, never edited here."""

    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _put_on_form(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError on the form: per field where the form shows it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, field_messages in error.message_dict.items():
        form.add_error(name if name in form.fields else None, field_messages)


# Coupon templates -----------------------------------------------------------------------


class CouponTemplateAdminForm(forms.ModelForm):
    class Meta:
        model = CouponTemplate
        fields = coupon_templates.TEMPLATE_FIELDS

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:
            return cleaned_data
        try:
            if self.instance.pk:
                coupon_templates.check_coupon_template_change(
                    template=self.instance, fields=self.template_changes()
                )
            else:
                coupon_templates.check_coupon_template(
                    template=CouponTemplate(**self.template_changes())
                )
        except ValidationError as error:
            _put_on_form(self, error)
        except CampaignActionRefused as refusal:
            self.add_error(None, refusal.reasons)
        return cleaned_data

    def template_changes(self) -> dict:
        names = self.changed_data if self.instance.pk else self.fields
        return {
            name: self.cleaned_data[name]
            for name in names
            if name in coupon_templates.TEMPLATE_FIELDS and name in self.cleaned_data
        }

    def _post_clean(self):
        # The services' checks above already said what is wrong in words; the model's
        # constraint check would repeat it as "Constraint ... is violated".
        if not self.errors:
            super()._post_clean()


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    form = CouponTemplateAdminForm
    list_display = ("code", "name", "kind", "face_value", "threshold", "valid_days", "cost_bearer")
    list_filter = ("kind", "cost_bearer")
    search_fields = ("code", "name")
    fieldsets = (
        (None, {"fields": ("code", "name", "kind", ("face_value", "max_discount"), "threshold")}),
        ("Use validity", {"fields": (("valid_from", "valid_until"), "valid_days")}),
        ("Restrictions", {"fields": ("categories", "skus", "stores", "cities")}),
        ("Cost and partner", {"fields": ("cost_bearer", "partner")}),
        ("Record", {"fields": ("created_by", "updated_by", "created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        record = ("created_by", "updated_by", "created_at", "updated_at")
        if obj is None:
            return record
        if selectors.is_coupon_template_in_use(template=obj):
            locked = (
                set(coupon_templates.TEMPLATE_FIELDS)
                - coupon_templates.TEMPLATE_FIELDS_EDITABLE_IN_USE
            )
            return (*record, *sorted(locked))
        return (*record, "code")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            saved = coupon_templates.update_coupon_template(
                template=CouponTemplate.objects.get(pk=obj.pk),
                fields=form.template_changes(),
                actor=request.user,
                now=timezone.now(),
            )
        else:
            saved = coupon_templates.create_coupon_template(
                fields=form.template_changes(), actor=request.user, now=timezone.now()
            )
        # The admin's log entry and redirect read the saved row from `obj`.
        obj.pk = saved.pk
        # Saved, and the superuser knows before a campaign hands it out.
        for warning in selectors.restriction_warnings(template=saved):
            messages.warning(request, warning)

    def save_related(self, request, form, formsets, change):
        """Nothing: the service saved everything."""


# Campaigns ------------------------------------------------------------------------------


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [*campaign_setup.CAMPAIGN_FIELDS, "channels"]

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:
            return cleaned_data
        try:
            campaign_setup.check_campaign_change(
                campaign=self.instance,
                fields=self.campaign_changes(),
                channels=self.channel_changes(),
                now=timezone.now(),
            )
        except ValidationError as error:
            _put_on_form(self, error)
        except CampaignActionRefused as refusal:
            self.add_error(None, refusal.reasons)
        return cleaned_data

    def campaign_changes(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.changed_data
            if name in campaign_setup.CAMPAIGN_FIELDS
        }

    def channel_changes(self):
        if "channels" not in self.changed_data:
            return None
        return list(self.cleaned_data["channels"])

    def _post_clean(self):
        # As CouponTemplateAdminForm: the service checks already explained any problem.
        if not self.errors:
            super()._post_clean()


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = (
        "code",
        "name",
        "status",
        "business_line",
        "campaign_type",
        "claim_starts_at",
        "claim_ends_at",
        "issued_count",
        "stock",
        "spent",
        "budget",
    )
    list_filter = ("status", "campaign_type", "business_line", "trigger")
    list_select_related = ("segment",)
    search_fields = ("code", "name")
    filter_horizontal = ("channels",)
    # Written by the engine and the lifecycle services only; the coupons per grant are
    # edited in the campaign wizard, which offers the templates.
    counters = ("status", "issued_count", "spent", "coupons_per_grant")
    record = ("created_by", "updated_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "name", "status", "business_line", "campaign_type")}),
        (
            "Audience",
            {"fields": ("segment", "cities", "holdout_share", "members_only", "member_tiers")},
        ),
        (
            "Red envelope",
            {
                "fields": (
                    "envelope_kind",
                    ("decay_ratio", "decay_floor"),
                    ("random_min", "random_max", "random_distribution"),
                )
            },
        ),
        ("Claims", {"fields": (("claim_starts_at", "claim_ends_at"), "trigger", "channels")}),
        ("Coupons", {"fields": ("coupons_per_grant",)}),
        ("Limits", {"fields": (("daily_limit_per_customer", "limit_per_customer"),)}),
        ("Stock and budget", {"fields": (("stock", "issued_count"), ("budget", "spent"))}),
        ("Record", {"fields": ("created_by", "updated_by", "created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # A live campaign offers only the fields it may still change (see campaign_setup).
        if obj is None or obj.status in campaign_setup.OPEN_STATUSES:
            editable = set(campaign_setup.CAMPAIGN_FIELDS) - {"code"} | {"channels"}
        elif obj.status in campaign_setup.LIVE_STATUSES:
            editable = set(campaign_setup.LIVE_EDITABLE_FIELDS)
        else:
            editable = set(campaign_setup.ENDED_EDITABLE_FIELDS)
        locked = {*campaign_setup.CAMPAIGN_FIELDS, "channels"} - editable
        return (*self.counters, *self.record, *sorted(locked))

    @admin.display(description="coupons per grant")
    def coupons_per_grant(self, campaign: Campaign) -> str:
        resources = campaign.resources.select_related("template").order_by("template__code")
        return ", ".join(f"{r.quantity} x {r.template.code}" for r in resources) or "-"

    def has_add_permission(self, request) -> bool:
        # New campaigns come from the wizard page, which also takes their coupons.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        campaign_setup.update_campaign(
            campaign=Campaign.objects.get(pk=obj.pk),
            fields=form.campaign_changes(),
            channels=form.channel_changes(),
            actor=request.user,
            now=timezone.now(),
        )

    def save_related(self, request, form, formsets, change):
        """Nothing: update_campaign saved the channels."""


# Coupons: revoke and reissue ------------------------------------------------------------


class CustomerIdFilter(admin.SimpleListFilter):
    """`?customer=<customer_id>`: one customer's coupons, the link of the customer 360 page
    ("all N coupons"). Exact, as the search is; the sidebar shows the chosen id only (a pick
    list of every customer would not fit)."""

    title = "customer"
    parameter_name = "customer"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        # No customer id holds a NUL, and PostgreSQL text cannot be compared with one.
        if "\x00" in value:
            return queryset.none()
        return queryset.filter(customer__customer_id=value)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "customer_code",
        "campaign",
        "template",
        "status",
        "face_value",
        "issued_at",
        "valid_until",
    )
    list_filter = (CustomerIdFilter, "status", "campaign")
    list_select_related = ("customer", "campaign", "template")
    # Exact matches only (index lookups; a partial phone match would let staff without
    # the PII permission recover a number digit by digit).
    search_fields = ("=code", "=customer__customer_id", "=customer__phone")
    search_help_text = "Coupon code, customer id or the customer's full phone number (exact)."
    show_full_result_count = False
    list_per_page = 50
    actions = ("revoke_coupons", "reissue_coupons")
    fields = (
        ("code", "status"),
        ("customer", "campaign", "template"),
        ("face_value", "threshold"),
        ("valid_from", "valid_until"),
        ("issued_at", "status_changed_at", "self_claimed"),
        "grant",
    )
    readonly_fields = (
        "code",
        "status",
        "customer",
        "campaign",
        "template",
        "face_value",
        "threshold",
        "valid_from",
        "valid_until",
        "issued_at",
        "status_changed_at",
        "self_claimed",
        "grant",
    )

    @admin.display(description="customer", ordering="customer__customer_id")
    def customer_code(self, coupon: Coupon) -> str:
        return coupon.customer.customer_id

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Staff with the change permission act on coupons (revoke, reissue), never edit
        # them field by field: those writes go through the audited services.
        if request.method == "POST":
            raise PermissionDenied
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete_link": False,
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected coupons", permissions=["change"])
    def revoke_coupons(self, request, queryset):
        return self._act_with_reason(request, queryset, "revoke_coupons")

    @admin.action(description="Reissue the selected coupons", permissions=["change"])
    def reissue_coupons(self, request, queryset):
        return self._act_with_reason(request, queryset, "reissue_coupons")

    def _act_with_reason(self, request, queryset, action_name: str):
        revoke = action_name == "revoke_coupons"
        form = CouponActionReasonForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "campaigns/coupon_action_reason.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Revoke coupons" if revoke else "Reissue coupons",
                    "verb": "revoke" if revoke else "reissue",
                    "opts": self.model._meta,
                    "form": form,
                    "coupons": queryset.select_related("customer")[:REASON_PAGE_LISTED],
                    "coupon_count": queryset.count(),
                    "selected_ids": request.POST.getlist(ACTION_CHECKBOX_NAME),
                    "select_across": request.POST.get("select_across", "0"),
                    "action_name": action_name,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        reason, now = form.cleaned_data["reason"], timezone.now()
        done = []
        for coupon in queryset.order_by("pk"):
            try:
                if revoke:
                    support.revoke_coupon(coupon=coupon, actor=request.user, reason=reason, now=now)
                    done.append(coupon.code)
                else:
                    result = support.reissue_coupon(
                        coupon=coupon, actor=request.user, reason=reason, now=now
                    )
                    done.append(f"{coupon.code} → {', '.join(c.code for c in result.coupons)}")
            except DomainRefusal as refusal:
                self.message_user(
                    request,
                    f"{coupon.code} not {'revoked' if revoke else 'reissued'}: {refusal.detail}",
                    messages.ERROR,
                )
        if done:
            self.message_user(
                request,
                f"{'Revoked' if revoke else 'Reissued'} {len(done)} "
                f"coupon{'s' if len(done) != 1 else ''}: {'; '.join(done)}.",
                messages.SUCCESS,
            )
        return None


# A customer's coupons on the customer admin -----------------------------------------------


class CustomerCouponInline(crm_admin.ReadOnlyInline):
    model = Coupon
    fk_name = "customer"
    fields = ("code", "campaign", "template", "status", "channel", "issued_at", "valid_until")
    readonly_fields = fields
    ordering = ("-issued_at", "-pk")
    latest = ("-issued_at", CUSTOMER_LATEST_COUPONS)
    show_change_link = True
    verbose_name_plural = f"latest coupons (up to {CUSTOMER_LATEST_COUPONS})"

    def get_queryset(self, request):
        # Every column shown comes in the one query (no query per coupon row).
        return (
            super().get_queryset(request).select_related("campaign", "template", "grant__channel")
        )

    @admin.display(description="channel")
    def channel(self, coupon: Coupon) -> str:
        return coupon.grant.channel.code


# crm's customer admin, with the customer's coupons: campaigns adds them, as crm never
# imports campaigns (STYLE §2.1). Django's documented way to extend another app's admin.
admin.site.unregister(Customer)


class CustomerMessageInline(crm_admin.ReadOnlyInline):
    model = Message
    fk_name = "customer"
    fields = ("created_at", "campaign", "channel", "status", "reason", "sent_at", "last_error")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    latest = ("-created_at", CUSTOMER_LATEST_COUPONS)
    verbose_name_plural = f"latest messages (up to {CUSTOMER_LATEST_COUPONS})"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("campaign", "channel")


@admin.register(Customer)
class CustomerAdmin(crm_admin.CustomerAdmin):
    inlines = (*crm_admin.CustomerAdmin.inlines, CustomerCouponInline, CustomerMessageInline)


# Ledger rows ----------------------------------------------------------------------------


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    list_display = (
        "granted_at",
        "campaign",
        "customer",
        "channel",
        "trigger",
        "coupon_count",
        "cost",
    )
    list_filter = ("trigger", "campaign")
    list_select_related = ("campaign", "customer", "channel")
    search_fields = ("=customer__customer_id", "=idempotency_key", "=campaign__code")
    search_help_text = "Customer id, idempotency key or campaign code (exact)."


@admin.register(AudienceMember)
class AudienceMemberAdmin(ReadOnlyAdmin):
    """The audience records (SPEC §4): support answers "why did this customer get nothing?"
    (in the holdout, or not in the audience when the campaign started)."""

    list_display = ("campaign", "customer", "treated", "at_start", "joined_at")
    list_filter = ("treated", "at_start", "campaign")
    list_select_related = ("campaign", "customer")
    search_fields = ("=customer__customer_id", "=campaign__code")
    search_help_text = "Customer id or campaign code (exact)."


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Every message (SPEC §4): support answers "why did this customer get no SMS?"."""

    list_display = (
        "created_at",
        "campaign",
        "customer",
        "channel",
        "status",
        "reason",
        "due_at",
        "sent_at",
        "attempts",
        "last_error",
    )
    list_filter = ("status", "reason", "channel", "campaign")
    list_select_related = ("campaign", "customer", "channel")
    search_fields = ("=customer__customer_id", "=campaign__code")
    search_help_text = "Customer id or campaign code (exact)."


class DeliveryBatchInline(crm_admin.ReadOnlyInline):
    model = DeliveryBatch
    fields = (
        "number",
        "size",
        "state",
        "processed",
        "granted",
        "skipped",
        "sends",
        "enqueued_at",
        "finished_at",
        "worker",
    )
    readonly_fields = fields
    ordering = ("number",)


@admin.register(DeliveryRun)
class DeliveryRunAdmin(ReadOnlyAdmin):
    """Scheduled pushes and their per-batch ledger (which worker granted each batch, how
    many times it was sent)."""

    list_display = ("campaign", "state", "total", "batch_size", "started_at", "finished_at")
    list_filter = ("state",)
    list_select_related = ("campaign",)
    search_fields = ("=campaign__code",)
    search_help_text = "Campaign code (exact)."
    inlines = (DeliveryBatchInline,)


@admin.register(CouponEvent)
class CouponEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "campaign", "customer", "coupon", "channel_code", "reason")
    list_filter = ("kind", "channel_code")
    list_select_related = ("campaign", "customer", "coupon")
    search_fields = ("=coupon__code", "=customer__customer_id", "=campaign__code")
    search_help_text = "Coupon code, customer id or campaign code (exact)."


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ("redeemed_at", "coupon", "order_id", "order_amount", "discount", "reversed_at")
    list_select_related = ("coupon",)
    search_fields = ("=coupon__code", "=order_id")
    search_help_text = "Coupon code or order id (exact)."


# Anti-harassment settings ---------------------------------------------------------------


class HarassmentSettingsForm(forms.ModelForm):
    class Meta:
        model = HarassmentSettings
        fields = harassment_settings.HARASSMENT_FIELDS

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:
            return cleaned_data
        candidate = HarassmentSettings(
            pk=1, **{name: cleaned_data[name] for name in harassment_settings.HARASSMENT_FIELDS}
        )
        try:
            harassment_settings.check_harassment_settings(harassment_settings=candidate)
        except ValidationError as error:
            _put_on_form(self, error)
        return cleaned_data


@admin.register(HarassmentSettings)
class HarassmentSettingsAdmin(admin.ModelAdmin):
    """One settings row: the list page opens it; saving goes through the audited service."""

    form = HarassmentSettingsForm

    def changelist_view(self, request, extra_context=None):
        row = current_harassment_settings()
        return HttpResponseRedirect(
            reverse("admin:campaigns_harassmentsettings_change", args=[row.pk])
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        harassment_settings.update_harassment_settings(
            changes={name: form.cleaned_data[name] for name in form.changed_data},
            actor=request.user,
            now=timezone.now(),
        )
        messages.info(request, "The new rules apply from the next claim.")

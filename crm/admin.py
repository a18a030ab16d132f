"""The admin for support staff: look customers up, read their history, erase PII on request.

Customer data arrives through imports and the API and derived columns are written only by
crm.services.metrics, so customers, orders and their history are read-only here. The only
writes are services: erasing personal data and editing the lifecycle thresholds, both
audited.
"""

import copy

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from crm import selectors
from crm.core.permissions import can_see_pii
from crm.exceptions import PointsRefused
from crm.models import (
    BehaviourEvent,
    Channel,
    Customer,
    Identity,
    LifecycleSettings,
    Order,
    OrderItem,
    PointsEntry,
    StageChange,
    Tag,
)
from crm.services import lifecycle_settings as lifecycle_settings_service
from crm.services import points
from crm.services.erasure import erase_customer_pii
from crm.services.metrics import current_lifecycle_settings

# How much history a customer's admin page shows inline; the Order admin has the rest.
INLINE_LATEST_ORDERS = 50
INLINE_LATEST_EVENTS = 30
INLINE_STAGE_HISTORY = 30


class ReadOnlyInline(admin.TabularInline):
    """A customer's rows, read-only. `latest` = (newest-first ordering, how many rows) shows
    only the latest ones; the rest is one click away in the row's own admin."""

    extra = 0
    can_delete = False
    latest: tuple[str, int] | None = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class IdentityInline(ReadOnlyInline):
    model = Identity
    fields = ("source", "external_id", "created_at")
    readonly_fields = fields


class OrderInline(ReadOnlyInline):
    model = Order
    fields = ("order_id", "placed_at", "amount", "status", "channel", "store", "coupon_code")
    readonly_fields = fields
    ordering = ("-placed_at",)
    latest = ("-placed_at", INLINE_LATEST_ORDERS)
    show_change_link = True
    verbose_name_plural = f"latest orders (up to {INLINE_LATEST_ORDERS})"


class BehaviourEventInline(ReadOnlyInline):
    model = BehaviourEvent
    fields = ("occurred_at", "kind", "channel", "sku", "category")
    readonly_fields = fields
    ordering = ("-occurred_at",)
    latest = ("-occurred_at", INLINE_LATEST_EVENTS)
    verbose_name_plural = f"latest behaviour events (up to {INLINE_LATEST_EVENTS})"


class StageChangeInline(ReadOnlyInline):
    model = StageChange
    fields = ("changed_at", "from_stage", "to_stage")
    readonly_fields = fields
    ordering = ("-changed_at",)
    latest = ("-changed_at", INLINE_STAGE_HISTORY)
    verbose_name_plural = f"stage history (latest {INLINE_STAGE_HISTORY})"


INLINE_POINTS_LEDGER = 30


class PointsEntryInline(ReadOnlyInline):
    model = PointsEntry
    fields = ("at", "change", "balance", "reason", "reference")
    readonly_fields = fields
    ordering = ("-at", "-id")
    latest = ("-at", INLINE_POINTS_LEDGER)
    verbose_name_plural = f"points ledger (latest {INLINE_POINTS_LEDGER})"


class PointsAdjustmentForm(forms.Form):
    change = forms.IntegerField(
        min_value=-1_000_000_000,
        max_value=1_000_000_000,
        help_text="Points to add to each customer; negative to take some away.",
    )
    note = forms.CharField(max_length=150, help_text="Why (kept in each ledger row).")

    def clean_change(self) -> int:
        change = self.cleaned_data["change"]
        if change == 0:
            raise forms.ValidationError("A change of 0 points changes nothing.")
        return change


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "customer_id",
        "name",
        "contact_phone",
        "contact_email",
        "city",
        "is_member",
        "lifecycle_stage",
        "order_count",
        "total_spent",
        "last_order_at",
    )
    list_filter = ("lifecycle_stage", "value_tier", "is_member", "rfm_group", "gender")
    # Prefix on the id, exact on phone and e-mail (index lookups; a partial phone match
    # would let staff without the PII permission recover masked numbers), words in names.
    search_fields = ("^customer_id", "=phone", "=email", "name")
    search_help_text = "Customer id (or its beginning), full phone number, e-mail or name."
    # Counting every customer again for "N total" costs a full scan on big tables.
    show_full_result_count = False
    list_per_page = 50
    actions = ("erase_personal_data", "adjust_points")
    inlines = (
        IdentityInline,
        PointsEntryInline,
        StageChangeInline,
        OrderInline,
        BehaviourEventInline,
    )
    fieldsets = (
        (
            "Profile",
            {
                "fields": (
                    ("customer_id", "name"),
                    ("contact_phone", "contact_email"),
                    ("gender", "birth_date"),
                    ("city", "region", "occupation"),
                    ("is_member", "member_tier", "points"),
                    ("registered_at", "acquisition_channel"),
                    "tag_names",
                    "consent",
                    "attributes",
                    ("is_placeholder", "pii_erased_at"),
                )
            },
        ),
        (
            "Purchases and labels",
            {
                "fields": (
                    ("order_count", "total_spent", "avg_order_value"),
                    ("first_order_at", "last_order_at", "is_returning"),
                    ("value_tier", "lifecycle_stage"),
                    ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_group"),
                    ("preferred_category", "preferred_channel", "promotion_sensitivity"),
                    ("weekend_buyer", "usual_daypart"),
                )
            },
        ),
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request).prefetch_related("tags")
        return selectors.with_contact_shown(queryset, show_pii=can_see_pii(request.user))

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        limit = getattr(inline, "latest", None)
        if limit and obj is not None:
            ordering, count = limit
            # The inline's own queryset: what it joins in (select_related) stays.
            rows = kwargs["queryset"].filter(customer_id=obj.pk).order_by(ordering)
            # The formset filters by customer again, so the limit goes in a subquery.
            kwargs["queryset"] = rows.filter(pk__in=Subquery(rows.values("pk")[:count]))
        return kwargs

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.fieldsets)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Staff with the change permission may act on customers (erase), never edit them
        # field by field: every write goes through a service that audits it.
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

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("crm.change_customer")

    @admin.display(description="phone")
    def contact_phone(self, customer: Customer) -> str:
        return customer.phone_shown

    @admin.display(description="e-mail")
    def contact_email(self, customer: Customer) -> str:
        return customer.email_shown

    @admin.display(description="tags")
    def tag_names(self, customer: Customer) -> str:
        return ", ".join(tag.name for tag in customer.tags.all()) or "-"

    def _action_context(self, request, queryset, *, title: str, action: str) -> dict:
        """What an action's own page needs to list the customers and post the action again
        with the same selection."""
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "customers": queryset[:100],
            "customer_count": queryset.count(),
            "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_name": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }

    @admin.action(description="Erase personal data", permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            context = self._action_context(
                request, queryset, title="Erase personal data?", action="erase_personal_data"
            )
            return TemplateResponse(request, "crm/customer_erase_confirm.html", context)
        now = timezone.now()
        erased = 0
        for customer in queryset.iterator(chunk_size=500):
            erase_customer_pii(customer=customer, requested_by=request.user, now=now)
            erased += 1
        self.message_user(
            request,
            f"Erased the personal data of {erased} customer{'s' if erased != 1 else ''}; "
            "their orders are kept anonymously.",
            messages.SUCCESS,
        )
        return None

    def has_adjust_points_permission(self, request) -> bool:
        return request.user.has_perm("crm.add_pointsentry")

    @admin.action(description="Adjust points", permissions=["adjust_points"])
    def adjust_points(self, request, queryset):
        form = PointsAdjustmentForm(request.POST if "change" in request.POST else None)
        if not form.is_valid():
            context = self._action_context(
                request, queryset, title="Adjust points", action="adjust_points"
            )
            context["form"] = form
            return TemplateResponse(request, "crm/customer_points_adjust.html", context)
        now = timezone.now()
        adjusted, refused = 0, []
        for customer in queryset.iterator(chunk_size=500):
            try:
                points.adjust_points(
                    customer=customer,
                    change=form.cleaned_data["change"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                    now=now,
                )
                adjusted += 1
            except PointsRefused as refusal:
                refused.append(f"{customer.customer_id}: {refusal.detail}")
        if adjusted:
            self.message_user(
                request,
                f"Adjusted the points of {adjusted} customer{'s' if adjusted != 1 else ''} by "
                f"{form.cleaned_data['change']:+d}.",
                messages.SUCCESS,
            )
        for line in refused[:20]:
            self.message_user(request, f"Not adjusted: {line}", messages.WARNING)
        if len(refused) > 20:
            self.message_user(request, f"… {len(refused)} refused in all.", messages.WARNING)
        return None


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    """The points ledger across customers, read-only: the database writes it."""

    list_display = ("at", "customer", "change", "balance", "reason", "reference")
    list_filter = ("reason", ("at", admin.DateFieldListFilter))
    search_fields = ("^customer__customer_id",)
    search_help_text = "Customer id (or its beginning)."
    list_select_related = ("customer",)
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-at", "-id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ("sku", "category", "quantity", "unit_price")
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "order_id",
        "customer",
        "placed_at",
        "amount",
        "status",
        "channel",
        "store",
        "city",
        "coupon_code",
    )
    list_filter = ("status", "channel")
    list_select_related = ("customer",)
    search_fields = ("=order_id", "=customer__customer_id", "=coupon_code")
    search_help_text = "Order id, customer id or coupon code (exact)."
    show_full_result_count = False
    inlines = (OrderItemInline,)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "daily_message_cap",
        "quiet_hours_start",
        "quiet_hours_end",
    )
    list_filter = ("kind",)
    search_fields = ("code", "name")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("source", "external_id", "customer", "created_at")
    list_filter = ("source",)
    list_select_related = ("customer",)
    search_fields = ("=external_id", "=customer__customer_id")
    search_help_text = "External id or customer id (exact)."
    raw_id_fields = ("customer",)
    show_full_result_count = False


class LifecycleSettingsForm(forms.ModelForm):
    class Meta:
        model = LifecycleSettings
        fields = lifecycle_settings_service.EDITABLE_FIELDS

    def clean(self):
        cleaned_data = super().clean()
        # A copy, so a refused edit leaves the instance the page shows untouched.
        candidate = copy.copy(self.instance)
        for name in lifecycle_settings_service.EDITABLE_FIELDS:
            setattr(candidate, name, cleaned_data.get(name, getattr(self.instance, name)))
        try:
            lifecycle_settings_service.check_lifecycle_settings(lifecycle_settings=candidate)
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned_data


@admin.register(LifecycleSettings)
class LifecycleSettingsAdmin(admin.ModelAdmin):
    """One settings row: the list page opens it, saving goes through the audited service."""

    form = LifecycleSettingsForm
    fieldsets = (
        ("Lifecycle stages", {"fields": ("churn_days", "silent_days", "new_days")}),
        ("Mature and declining", {"fields": ("mature_orders", "window_days")}),
        ("Value tiers", {"fields": ("high_value_min_spent", "medium_value_min_spent")}),
    )

    def changelist_view(self, request, extra_context=None):
        row = current_lifecycle_settings()
        return HttpResponseRedirect(reverse("admin:crm_lifecyclesettings_change", args=[row.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in lifecycle_settings_service.EDITABLE_FIELDS
        }
        lifecycle_settings_service.update_lifecycle_settings(
            changes=changes, actor=request.user, now=timezone.now()
        )
        messages.info(request, "The new thresholds apply from the next metrics recompute.")

"""The campaigns admin: support revokes and reissues coupons with a reason (audited), finds
coupons by code, customer or phone; templates, campaigns and the anti-harassment settings
are saved through the audited services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Coupon, CouponTemplate, HarassmentSettings
from campaigns.services.claims import claim_coupon
from crm.core.models import AuditEntry
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

COUPONS = "admin:campaigns_coupon_changelist"


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def coupon(make_campaign, app_push) -> Coupon:
    now = timezone.now()
    customer = CustomerFactory(customer_id="SH-1", city="Shanghai", phone="13800001111")
    campaign = make_campaign(
        code="summer-snacks",
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=6),
    )
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k1",
        now=now,
    ).coupons[0]


def act(client, action: str, coupon: Coupon, **extra):
    return client.post(
        reverse(COUPONS),
        {"action": action, "_selected_action": [coupon.pk], "index": "0", **extra},
    )


def flashed(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def coupon_state(coupon: Coupon) -> tuple:
    coupon.refresh_from_db()
    campaign = Campaign.objects.get(pk=coupon.campaign_id)
    return (
        coupon.status,
        campaign.issued_count,
        Coupon.objects.count(),
        AuditEntry.objects.count(),
    )


def test_revoke_asks_for_a_reason_first(coupon, support_client):
    # when
    response = act(support_client, "revoke_coupons", coupon)
    # then
    assert response.status_code == 200
    assert response.templates[0].name == "campaigns/coupon_action_reason.html"
    assert f"{coupon.code} · SH-1 · Unused" in response.content.decode()
    assert coupon_state(coupon) == ("unused", 1, 1, 0)


def test_revoke_with_a_reason_revokes_and_audits(coupon, support, support_client):
    # when
    response = act(
        support_client, "revoke_coupons", coupon, confirm="yes", reason="complaint #4411"
    )
    # then
    assert response.status_code == 302
    assert coupon_state(coupon) == ("revoked", 0, 1, 1)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.reason, entry.actor) == (
        "coupon.revoke",
        coupon.code,
        "complaint #4411",
        support,
    )
    assert flashed(response) == [("success", f"Revoked 1 coupon: {coupon.code}.")]


def test_blank_reason_is_asked_again_and_nothing_changes(coupon, support_client):
    response = act(support_client, "revoke_coupons", coupon, confirm="yes", reason="   ")
    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert coupon_state(coupon) == ("unused", 1, 1, 0)


def test_reissue_replaces_the_coupon_and_audits_both_steps(coupon, support, support_client):
    # when
    response = act(support_client, "reissue_coupons", coupon, confirm="yes", reason="lost")
    # then
    assert response.status_code == 302
    replacement = Coupon.objects.exclude(pk=coupon.pk).get()
    assert coupon_state(coupon) == ("revoked", 1, 2, 2)
    assert (replacement.status, replacement.customer_id) == ("unused", coupon.customer_id)
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "reason", "changes")) == [
        ("coupon.revoke", "lost", {"status": ["unused", "revoked"]}),
        ("coupon.reissue", "lost", {"replaced_by": [replacement.code]}),
    ]
    assert flashed(response) == [
        ("success", f"Reissued 1 coupon: {coupon.code} → {replacement.code}.")
    ]


def test_refused_reissue_is_an_error_message_and_changes_nothing(coupon, support_client):
    # given: the campaign is paused, so the engine refuses the new grant
    Campaign.objects.filter(pk=coupon.campaign_id).update(status="paused")
    # when
    response = act(support_client, "reissue_coupons", coupon, confirm="yes", reason="lost")
    # then
    assert flashed(response) == [
        ("error", f"{coupon.code} not reissued: campaign summer-snacks is paused")
    ]
    assert coupon_state(coupon) == ("unused", 1, 1, 0)


def test_revoking_a_revoked_coupon_is_an_error_message(coupon, support_client):
    # given: revoked, and the success message shown on the list
    act(support_client, "revoke_coupons", coupon, confirm="yes", reason="first")
    support_client.get(reverse(COUPONS))
    # when
    response = act(support_client, "revoke_coupons", coupon, confirm="yes", reason="again")
    # then
    assert flashed(response) == [
        (
            "error",
            f"{coupon.code} not revoked: coupon {coupon.code} is revoked, only unused coupons",
        )
    ]
    assert coupon_state(coupon) == ("revoked", 0, 1, 1)


@pytest.mark.parametrize("query", ["code", "SH-1", "13800001111"])
def test_support_finds_a_coupon_by_code_customer_or_phone(coupon, support_client, query):
    # given: another customer's coupon that must not match
    other = CustomerFactory(customer_id="SH-2", city="Shanghai", phone="13800002222")
    claim_coupon(
        campaign=coupon.campaign.code,
        customer=other.customer_id,
        channel=coupon.grant.channel.code,
        trigger="login",
        idempotency_key="k2",
        now=timezone.now(),
    )
    # when
    term = coupon.code.lower() if query == "code" else query
    response = support_client.get(reverse(COUPONS), {"q": term})
    # then
    assert [row.code for row in response.context["cl"].result_list] == [coupon.code]


def test_support_cannot_edit_a_coupon_field_by_field(coupon, support_client):
    url = reverse("admin:campaigns_coupon_change", args=[coupon.pk])
    assert support_client.get(url).status_code == 200
    assert support_client.post(url, {"status": "redeemed"}).status_code == 403
    assert coupon_state(coupon) == ("unused", 1, 1, 0)


def test_support_reads_the_ledger_but_adds_nothing(coupon, support_client):
    for name in ("grant", "couponevent", "redemption", "campaign", "coupontemplate"):
        assert support_client.get(reverse(f"admin:campaigns_{name}_changelist")).status_code == 200
    assert support_client.get(reverse("admin:campaigns_grant_add")).status_code == 403


def test_harassment_settings_are_saved_through_the_audited_service(admin_user, admin_client_):
    # given (the campaigns conftest made the row with a cap of 100)
    url = reverse("admin:campaigns_harassmentsettings_change", args=[1])
    # when
    response = admin_client_.post(
        url, {"max_unused_coupons": "5", "min_hours_between_same_template": "0"}
    )
    # then
    assert response.status_code == 302
    settings = HarassmentSettings.objects.get()
    assert (settings.max_unused_coupons, settings.min_hours_between_same_template) == (5, 0)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.changes, entry.actor) == (
        "harassment_settings.update",
        {"max_unused_coupons": [100, 5]},
        admin_user,
    )


def test_harassment_cap_of_zero_is_refused(admin_client_):
    url = reverse("admin:campaigns_harassmentsettings_change", args=[1])
    response = admin_client_.post(
        url, {"max_unused_coupons": "0", "min_hours_between_same_template": "24"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "max_unused_coupons": ["Must be at least 1 (otherwise no coupon could be granted)."]
    }
    assert HarassmentSettings.objects.get().max_unused_coupons == 100
    assert AuditEntry.objects.count() == 0


def test_harassment_settings_list_opens_the_single_row(admin_client_):
    response = admin_client_.get(reverse("admin:campaigns_harassmentsettings_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_harassmentsettings_change", args=[1])


def test_running_campaign_in_admin_changes_stock_through_the_service(
    coupon, admin_user, admin_client_
):
    # given
    campaign = Campaign.objects.get()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client_.get(url)
    # when: the form offers name, stock, budget and the end only
    form = page.context["adminform"].form
    data = {
        "name": campaign.name,
        "stock": "250",
        "budget": str(campaign.budget),
        "claim_ends_at_0": timezone.localtime(campaign.claim_ends_at).strftime("%Y-%m-%d"),
        "claim_ends_at_1": timezone.localtime(campaign.claim_ends_at).strftime("%H:%M:%S"),
    }
    response = admin_client_.post(url, data)
    # then
    assert sorted(form.fields) == ["budget", "claim_ends_at", "name", "stock"]
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.stock, campaign.issued_count) == (250, 1)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.changes, entry.actor) == (
        "campaign.update",
        {"stock": [100, 250]},
        admin_user,
    )


def test_campaign_stock_below_issued_is_a_form_error_in_admin(coupon, admin_client_):
    campaign = Campaign.objects.get()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    response = admin_client_.post(
        url,
        {
            "name": campaign.name,
            "stock": "0",
            "budget": str(campaign.budget),
            "claim_ends_at_0": timezone.localtime(campaign.claim_ends_at).strftime("%Y-%m-%d"),
            "claim_ends_at_1": timezone.localtime(campaign.claim_ends_at).strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "stock": ["Cannot go below the 1 coupons already issued."]
    }
    campaign.refresh_from_db()
    assert campaign.stock == 100
    assert AuditEntry.objects.count() == 0


def test_coupon_template_added_in_admin_is_audited(admin_user, admin_client_):
    response = admin_client_.post(
        reverse("admin:campaigns_coupontemplate_add"),
        {
            "code": "pct-15",
            "name": "15% off",
            "kind": "percent",
            "face_value": "15",
            "max_discount": "30",
            "threshold": "0",
            "valid_days": "14",
            "categories": "[]",
            "skus": "[]",
            "stores": "[]",
            "cities": "[]",
            "cost_bearer": "merchant",
        },
    )
    assert response.status_code == 302
    template = CouponTemplate.objects.get()
    assert (template.kind, template.max_discount, template.created_by) == (
        "percent",
        Decimal("30.00"),
        admin_user,
    )
    assert AuditEntry.objects.get().action == "coupon_template.create"


def test_percent_template_without_cap_is_a_form_error_in_admin(admin_client_):
    response = admin_client_.post(
        reverse("admin:campaigns_coupontemplate_add"),
        {
            "code": "pct-15",
            "name": "15% off",
            "kind": "percent",
            "face_value": "15",
            "max_discount": "",
            "threshold": "0",
            "valid_days": "14",
            "categories": "[]",
            "skus": "[]",
            "stores": "[]",
            "cities": "[]",
            "cost_bearer": "merchant",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "max_discount": [
            "A percent discount needs a cap: the largest discount one coupon gives "
            "(it is also what one coupon costs the campaign budget)."
        ]
    }
    assert CouponTemplate.objects.count() == 0

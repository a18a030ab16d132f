"""Coupon templates and campaigns through the API: CRUD by code, filters, the status actions
with every launch refusal, the edit rules of live campaigns, roles and the OpenAPI schema."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from campaigns.models import Campaign, CampaignResource, CouponTemplate
from campaigns.operator_time import operator_time
from campaigns.services.claims import claim_coupon
from crm.core.models import AuditEntry
from crm.models import Channel

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/coupon-templates/"
CAMPAIGNS = "/api/v1/campaigns/"
DAY = timedelta(days=1)


def iso(moment) -> str:
    return timezone.localtime(moment).isoformat()


@pytest.fixture
def sms(db):
    return Channel.objects.create(code="sms", name="SMS", kind="off_site")


@pytest.fixture
def window():
    """A claim window open on the real clock (the API reads timezone.now())."""
    now = timezone.now().replace(microsecond=0)
    return now - DAY, now + 6 * DAY


def template_payload(**overrides) -> dict:
    body = {
        "code": "ten-off-fifty",
        "name": "10 off 50",
        "kind": "cash",
        "face_value": "10.00",
        "threshold": "50.00",
        "categories": ["nuts", " "],
        "valid_days": 7,
    }
    body.update(overrides)
    return body


def campaign_payload(shanghai, window, **overrides) -> dict:
    starts, ends = window
    body = {
        "code": "summer-snacks",
        "name": "Summer snacks",
        "business_line": "snacks",
        "campaign_type": "targeted",
        "segment": shanghai.pk,
        "cities": ["Shanghai"],
        "claim_starts_at": starts.isoformat(),
        "claim_ends_at": ends.isoformat(),
        "channels": ["app_push"],
        "trigger": "login",
        "daily_limit_per_customer": 1,
        "limit_per_customer": 2,
        "stock": 500,
        "budget": "5000.00",
        "holdout_share": "0.100",
        "resources": [{"template": "t1", "quantity": 1}],
    }
    body.update(overrides)
    return body


def campaign_state(code: str) -> tuple:
    campaign = Campaign.objects.get(code=code)
    return (
        campaign.name,
        campaign.status,
        campaign.stock,
        campaign.budget,
        campaign.segment_id,
        campaign.claim_ends_at,
        sorted(campaign.channels.values_list("code", flat=True)),
        sorted(
            CampaignResource.objects.filter(campaign=campaign).values_list("quantity", flat=True)
        ),
    )


# Coupon templates -----------------------------------------------------------------------


def test_create_coupon_template_returns_it_and_audits(marketer, marketer_api):
    # when
    response = marketer_api.post(TEMPLATES, template_payload(), format="json")
    # then
    assert response.status_code == 201
    template = CouponTemplate.objects.get()
    assert response.json() == {
        "code": "ten-off-fifty",
        "name": "10 off 50",
        "kind": "cash",
        "face_value": "10.00",
        "max_discount": None,
        "threshold": "50.00",
        "categories": ["nuts"],
        "skus": [],
        "stores": [],
        "cities": [],
        "valid_from": None,
        "valid_until": None,
        "valid_days": 7,
        "cost_bearer": "platform",
        "partner": None,
        "created_at": iso(template.created_at),
        "updated_at": iso(template.updated_at),
        # No order holds it here (tests/campaigns/test_restriction_values.py).
        "warnings": [
            "No order holds the category 'nuts' yet, so the coupon fits no order until one does."
        ],
    }
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id, entry.actor) == (
        "coupon_template.create",
        "coupon_template",
        "ten-off-fifty",
        marketer,
    )


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"kind": "percent", "face_value": "20"},
            {
                "max_discount": [
                    "A percent discount needs a cap: the largest discount one coupon gives "
                    "(it is also what one coupon costs the campaign budget)."
                ]
            },
            id="percent-without-cap",
        ),
        pytest.param(
            {"kind": "percent", "face_value": "120", "max_discount": "30"},
            {"face_value": ["A percent discount is at most 100 (% off)."]},
            id="percent-over-100",
        ),
        pytest.param(
            {"valid_from": "2026-07-01T00:00:00+08:00", "valid_until": "2026-07-31T00:00:00+08:00"},
            {
                "valid_days": [
                    "Choose either a fixed window (valid from and until) or a number of days "
                    "after the claim, not both."
                ]
            },
            id="fixed-and-relative",
        ),
        pytest.param(
            {
                "valid_days": None,
                "valid_from": "2026-07-31T00:00:00+08:00",
                "valid_until": "2026-07-01T00:00:00+08:00",
            },
            {"valid_until": ["Must be after valid from."]},
            id="fixed-window-reversed",
        ),
        pytest.param(
            {"valid_days": None},
            {
                "valid_days": [
                    "Give the use validity: a fixed window (valid from and until) or a number "
                    "of days after the claim."
                ]
            },
            id="no-validity",
        ),
        pytest.param(
            {"kind": "voucher"}, {"kind": ['"voucher" is not a valid choice.']}, id="bad-kind"
        ),
    ],
)
def test_invalid_coupon_template_is_400_and_nothing_is_written(marketer_api, overrides, errors):
    response = marketer_api.post(TEMPLATES, template_payload(**overrides), format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert CouponTemplate.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_coupon_templates_are_listed_paginated_and_filtered_by_kind(make_template, analyst_api):
    # given
    make_template(code="cash-a")
    make_template(code="pct-b", kind="percent", face_value=Decimal("15"), max_discount=20)
    # when
    response = analyst_api.get(TEMPLATES, {"kind": "percent"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    assert [row["code"] for row in body["results"]] == ["pct-b"]


def test_template_in_use_may_only_be_renamed(make_campaign, make_template, marketer_api):
    # given: a running campaign hands the template out
    template = make_template(code="ten-off-fifty")
    make_campaign(template=template)
    # when
    refused = marketer_api.patch(
        f"{TEMPLATES}ten-off-fifty/", {"face_value": "20.00"}, format="json"
    )
    renamed = marketer_api.patch(f"{TEMPLATES}ten-off-fifty/", {"name": "Ten off"}, format="json")
    # then
    assert refused.status_code == 409
    reason = (
        "face value cannot change: coupons of template ten-off-fifty are issued or a live "
        "campaign hands it out; create a new template instead"
    )
    assert refused.json() == {"reason": "template_in_use", "detail": reason, "reasons": [reason]}
    assert renamed.status_code == 200
    template.refresh_from_db()
    assert (template.name, template.face_value) == ("Ten off", Decimal("10.00"))
    assert list(AuditEntry.objects.values_list("action", "changes")) == [
        ("coupon_template.update", {"name": ["10 off 50", "Ten off"]})
    ]


def test_delete_unused_template_but_not_one_in_use(make_campaign, make_template, marketer_api):
    # given
    make_template(code="spare")
    make_campaign(template=make_template(code="used"))
    # when
    deleted = marketer_api.delete(f"{TEMPLATES}spare/")
    refused = marketer_api.delete(f"{TEMPLATES}used/")
    # then
    assert deleted.status_code == 204
    assert refused.status_code == 409
    assert refused.json()["reasons"] == ["coupon template used is used by campaigns c1"]
    assert sorted(CouponTemplate.objects.values_list("code", flat=True)) == ["used"]


# Campaigns ------------------------------------------------------------------------------


def test_create_campaign_as_a_draft(
    make_template, shanghai, app_push, window, marketer, marketer_api
):
    # given
    make_template(code="t1")
    # when
    response = marketer_api.post(CAMPAIGNS, campaign_payload(shanghai, window), format="json")
    # then
    assert response.status_code == 201
    campaign = Campaign.objects.get()
    starts, ends = window
    assert response.json() == {
        "code": "summer-snacks",
        "name": "Summer snacks",
        "status": "draft",
        "business_line": "snacks",
        "campaign_type": "targeted",
        "segment": shanghai.pk,
        "segment_name": "Shanghai",
        "cities": ["Shanghai"],
        "claim_starts_at": iso(starts),
        "claim_ends_at": iso(ends),
        "channels": ["app_push"],
        "trigger": "login",
        "daily_limit_per_customer": 1,
        "limit_per_customer": 2,
        "stock": 500,
        "issued_count": 0,
        "stock_left": 500,
        "budget": "5000.00",
        "spent": "0.00",
        "budget_left": "5000.00",
        "holdout_share": "0.100",
        "members_only": False,
        "member_tiers": [],
        "envelope_kind": "",
        "decay_ratio": None,
        "decay_floor": None,
        "random_min": None,
        "random_max": None,
        "random_distribution": "",
        "audience_recorded_at": None,
        "resources": [
            {"template": "t1", "template_name": "10 off 50", "kind": "cash", "quantity": 1}
        ],
        "created_at": iso(campaign.created_at),
        "updated_at": iso(campaign.updated_at),
    }
    assert (campaign.created_by, campaign.updated_by) == (marketer, marketer)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.changes["channels"]) == (
        "campaign.create",
        "summer-snacks",
        [None, ["app_push"]],
    )


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"resources": [{"template": "nope", "quantity": 1}]},
            {"resources": {"0": {"template": ["No coupon template with code nope."]}}},
            id="unknown-template",
        ),
        pytest.param(
            {"channels": ["fax"]}, {"channels": ["No channel with code fax."]}, id="unknown-channel"
        ),
        pytest.param(
            {"segment": 999999}, {"segment": ["No segment with id 999999."]}, id="segment"
        ),
        pytest.param(
            {"daily_limit_per_customer": 3},
            {
                "daily_limit_per_customer": [
                    "Cannot exceed the limit per customer for the whole campaign (2)."
                ]
            },
            id="daily-over-total",
        ),
        pytest.param(
            {"resources": [{"template": "t1", "quantity": 1}, {"template": "t1", "quantity": 2}]},
            {"resources": ["Each coupon template may appear once; raise its quantity instead."]},
            id="template-twice",
        ),
    ],
)
def test_invalid_campaign_is_400_and_nothing_is_written(
    make_template, shanghai, app_push, window, marketer_api, overrides, errors
):
    make_template(code="t1")
    response = marketer_api.post(
        CAMPAIGNS, campaign_payload(shanghai, window, **overrides), format="json"
    )
    assert response.status_code == 400
    assert response.json() == errors
    assert Campaign.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_claim_window_must_end_after_it_starts(
    make_template, shanghai, app_push, window, marketer_api
):
    make_template(code="t1")
    starts, ends = window
    response = marketer_api.post(
        CAMPAIGNS,
        campaign_payload(shanghai, (ends, starts)),
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"claim_ends_at": ["The claim window must end after it starts."]}
    assert Campaign.objects.count() == 0


def test_campaigns_are_filtered_by_status_business_line_and_type(make_campaign, analyst_api):
    # given
    make_campaign(code="run-snacks")
    make_campaign(code="draft-snacks", status="draft")
    make_campaign(code="run-drinks", business_line="drinks", campaign_type="special")
    # when
    by_status = analyst_api.get(CAMPAIGNS, {"status": "running"})
    by_line = analyst_api.get(CAMPAIGNS, {"business_line": "Snacks"})
    by_type = analyst_api.get(CAMPAIGNS, {"campaign_type": "special"})
    # then
    assert sorted(row["code"] for row in by_status.json()["results"]) == [
        "run-drinks",
        "run-snacks",
    ]
    assert sorted(row["code"] for row in by_line.json()["results"]) == [
        "draft-snacks",
        "run-snacks",
    ]
    assert [row["code"] for row in by_type.json()["results"]] == ["run-drinks"]


def test_campaign_is_read_by_code_and_unknown_code_is_404(make_campaign, analyst_api):
    make_campaign(code="summer-snacks")
    assert analyst_api.get(f"{CAMPAIGNS}summer-snacks/").json()["code"] == "summer-snacks"
    assert analyst_api.get(f"{CAMPAIGNS}nope/").status_code == 404


def test_draft_may_change_anything_but_its_code(
    make_campaign, make_template, sms, marketer, marketer_api
):
    # given
    make_campaign(code="summer-snacks", status="draft")
    make_template(code="t9")
    # when
    response = marketer_api.patch(
        f"{CAMPAIGNS}summer-snacks/",
        {
            "trigger": "checkout",
            "channels": ["sms"],
            "resources": [{"template": "t9", "quantity": 2}],
        },
        format="json",
    )
    renamed_code = marketer_api.patch(
        f"{CAMPAIGNS}summer-snacks/", {"code": "other"}, format="json"
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["trigger"], body["channels"], body["resources"]) == (
        "checkout",
        ["sms"],
        [{"template": "t9", "template_name": "10 off 50", "kind": "cash", "quantity": 2}],
    )
    assert renamed_code.status_code == 409
    assert renamed_code.json()["reason"] == "not_editable"
    entry = AuditEntry.objects.get()
    assert entry.changes == {
        "trigger": ["login", "checkout"],
        "channels": [["app_push"], ["sms"]],
        "resources": [[["t1", 1]], [["t9", 2]]],
    }


def test_running_campaign_may_change_name_stock_budget_and_end(make_campaign, marketer_api):
    # given
    campaign = make_campaign(code="summer-snacks")
    new_end = timezone.now().replace(microsecond=0) + 20 * DAY
    # when
    response = marketer_api.patch(
        f"{CAMPAIGNS}summer-snacks/",
        {"name": "Summer", "stock": 800, "budget": "9000.00", "claim_ends_at": new_end.isoformat()},
        format="json",
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["stock"], body["budget"], body["claim_ends_at"]) == (
        "Summer",
        800,
        "9000.00",
        iso(new_end),
    )
    entry = AuditEntry.objects.get()
    assert entry.changes == {
        "name": ["Spring snacks", "Summer"],
        "stock": [100, 800],
        "budget": ["1000.00", "9000.00"],
        "claim_ends_at": [campaign.claim_ends_at.isoformat(), new_end.isoformat()],
    }


def test_running_campaign_refuses_other_changes_and_keeps_everything(
    make_campaign, shanghai, marketer_api
):
    # given
    make_campaign(code="summer-snacks")
    before = campaign_state("summer-snacks")
    # when
    response = marketer_api.patch(
        f"{CAMPAIGNS}summer-snacks/",
        {"stock": 900, "daily_limit_per_customer": 2, "channels": []},
        format="json",
    )
    # then
    assert response.status_code == 409
    reasons = [
        "the daily limit per customer of a running campaign cannot change (only: budget, "
        "claim window end, name, stock)",
        "the channels of a running campaign cannot change (only: budget, claim window end, "
        "name, stock)",
    ]
    assert response.json() == {
        "reason": "not_editable",
        "detail": "; ".join(reasons),
        "reasons": reasons,
    }
    assert campaign_state("summer-snacks") == before
    assert AuditEntry.objects.count() == 0


def test_running_campaign_stock_cannot_go_below_what_was_issued(
    make_campaign, shopper, app_push, marketer_api
):
    # given: one grant of two coupons issued
    now = timezone.now()
    campaign = make_campaign(
        code="summer-snacks", quantity=2, claim_starts_at=now - DAY, claim_ends_at=now + DAY
    )
    claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k",
        now=now,
    )
    # when
    response = marketer_api.patch(f"{CAMPAIGNS}summer-snacks/", {"stock": 1}, format="json")
    # then
    assert response.status_code == 400
    assert response.json() == {"stock": ["Cannot go below the 2 coupons already issued."]}
    campaign.refresh_from_db()
    assert (campaign.stock, campaign.issued_count) == (100, 2)
    assert AuditEntry.objects.count() == 0


def test_moving_the_end_into_another_campaigns_window_is_refused(make_campaign, marketer_api):
    # given: two campaigns of one business line and audience, one after the other
    now = timezone.now().replace(microsecond=0)
    make_campaign(code="first", claim_starts_at=now - DAY, claim_ends_at=now + DAY)
    make_campaign(
        code="second",
        status="scheduled",
        claim_starts_at=now + 2 * DAY,
        claim_ends_at=now + 9 * DAY,
    )
    before = campaign_state("first")
    # when
    response = marketer_api.patch(
        f"{CAMPAIGNS}first/", {"claim_ends_at": (now + 3 * DAY).isoformat()}, format="json"
    )
    # then
    assert response.status_code == 409
    # Moments in the operator's time zone (tests/campaigns/test_times_in_operator_zone.py).
    second_window = f"{operator_time(now + 2 * DAY)} to {operator_time(now + 9 * DAY)}"
    assert response.json()["reason"] == "edit_refused"
    assert response.json()["reasons"] == [
        "one policy per audience: campaign second of business line 'snacks' already targets "
        f"this segment from {second_window}"
    ]
    assert campaign_state("first") == before


def test_schedule_starts_a_draft_whose_window_is_open(make_campaign, window, marketer_api):
    # given
    starts, ends = window
    make_campaign(code="summer-snacks", status="draft", claim_starts_at=starts, claim_ends_at=ends)
    # when
    response = marketer_api.post(f"{CAMPAIGNS}summer-snacks/schedule/")
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert Campaign.objects.get().status == "running"


def test_launch_is_an_alias_of_schedule(make_campaign, marketer_api):
    now = timezone.now()
    make_campaign(
        code="later", status="draft", claim_starts_at=now + DAY, claim_ends_at=now + 5 * DAY
    )
    response = marketer_api.post(f"{CAMPAIGNS}later/launch/")
    assert response.status_code == 200
    assert response.json()["status"] == "scheduled"


def test_launch_refused_lists_every_reason_and_changes_nothing(make_campaign, marketer_api):
    # given: no channel, budget and stock below one grant of two coupons
    now = timezone.now()
    make_campaign(
        code="summer-snacks",
        status="draft",
        channels=[],
        quantity=2,
        stock=1,
        budget=Decimal("5.00"),
        claim_starts_at=now - DAY,
        claim_ends_at=now + DAY,
    )
    before = campaign_state("summer-snacks")
    # when
    response = marketer_api.post(f"{CAMPAIGNS}summer-snacks/launch/")
    # then
    assert response.status_code == 409
    reasons = [
        "choose at least one channel",
        "the budget 5.00 is below the cost of one grant (20.00)",
        "the stock 1 is below the coupons of one grant (2)",
    ]
    assert response.json() == {
        "reason": "launch_refused",
        "detail": "; ".join(reasons),
        "reasons": reasons,
    }
    assert campaign_state("summer-snacks") == before
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("start", "action", "after"),
    [
        ("running", "pause", "paused"),
        ("paused", "resume", "running"),
        ("running", "finish", "finished"),
        ("paused", "cancel", "cancelled"),
    ],
)
def test_status_actions_return_the_campaign(
    make_campaign, marketer, marketer_api, start, action, after
):
    # given
    now = timezone.now()
    make_campaign(
        code="summer-snacks", status=start, claim_starts_at=now - DAY, claim_ends_at=now + DAY
    )
    # when
    response = marketer_api.post(f"{CAMPAIGNS}summer-snacks/{action}/")
    # then
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["status"]) == ("summer-snacks", after)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.changes, entry.actor) == (
        f"campaign.{action}",
        {"status": [start, after]},
        marketer,
    )


def test_action_from_the_wrong_status_is_409(make_campaign, marketer_api):
    make_campaign(code="summer-snacks", status="draft")
    response = marketer_api.post(f"{CAMPAIGNS}summer-snacks/pause/")
    assert response.status_code == 409
    assert response.json() == {
        "reason": "invalid_status",
        "detail": "cannot pause a draft campaign (only from running)",
        "reasons": ["cannot pause a draft campaign (only from running)"],
    }
    assert Campaign.objects.get().status == "draft"


def test_only_drafts_are_deleted(make_campaign, marketer_api):
    # given
    make_campaign(code="draft", status="draft")
    make_campaign(code="live")
    # when
    deleted = marketer_api.delete(f"{CAMPAIGNS}draft/")
    refused = marketer_api.delete(f"{CAMPAIGNS}live/")
    # then
    assert deleted.status_code == 204
    assert refused.status_code == 409
    assert refused.json()["reasons"] == ["only draft campaigns can be deleted; live is running"]
    assert list(Campaign.objects.values_list("code", flat=True)) == ["live"]


def test_campaign_list_reads_in_the_same_number_of_queries_for_1_or_5_campaigns(
    make_campaign, analyst_api
):
    # given
    make_campaign(code="a")
    with CaptureQueriesContext(connection) as one:
        analyst_api.get(CAMPAIGNS)
    for n in range(4):
        make_campaign(code=f"b{n}")
    # when
    with CaptureQueriesContext(connection) as five:
        response = analyst_api.get(CAMPAIGNS)
    # then
    assert response.json()["count"] == 5
    assert len(five) == len(one)


# Roles ----------------------------------------------------------------------------------


def test_analyst_reads_but_does_not_write(make_campaign, analyst_api):
    # given
    make_campaign(code="summer-snacks")
    # when
    read = analyst_api.get(CAMPAIGNS)
    paused = analyst_api.post(f"{CAMPAIGNS}summer-snacks/pause/")
    created = analyst_api.post(TEMPLATES, template_payload(), format="json")
    # then
    assert (read.status_code, paused.status_code, created.status_code) == (200, 403, 403)
    assert Campaign.objects.get().status == "running"
    assert CouponTemplate.objects.count() == 1


def test_integration_token_may_not_use_campaign_crud(make_campaign, integration_api):
    # given
    make_campaign(code="summer-snacks")
    # when
    responses = [
        integration_api.get(CAMPAIGNS),
        integration_api.get(TEMPLATES),
        integration_api.post(f"{CAMPAIGNS}summer-snacks/pause/"),
        integration_api.post(TEMPLATES, template_payload(), format="json"),
    ]
    # then
    assert [response.status_code for response in responses] == [403, 403, 403, 403]
    assert Campaign.objects.get().status == "running"


# OpenAPI schema -------------------------------------------------------------------------


def test_schema_of_the_campaigns_api_generates_without_warnings():
    # given
    GENERATOR_STATS.reset()
    generator = SchemaGenerator()
    # when
    schema = generator.get_schema(request=None, public=True)
    # then
    validate_schema(schema)
    assert not GENERATOR_STATS
    paths = {
        url: item
        for url, item in schema["paths"].items()
        if url.startswith((CAMPAIGNS, TEMPLATES, "/api/v1/claims/", "/api/v1/redemptions/"))
    }
    claim = paths["/api/v1/claims/"]["post"]
    assert sorted(claim["responses"]) == ["200", "201", "400", "403", "409", "503"]
    assert sorted(claim["responses"]["409"]["content"]["application/json"]["examples"]) == [
        "Refused:ChannelNotInCampaign",
        "Refused:DailyLimit",
        "Refused:KeyUsedForAnotherClaim",
        "Refused:OutsideTheClaimWindow",
        "Refused:TriggerNotInCampaign",
    ]
    redeem = paths["/api/v1/redemptions/"]["post"]
    assert sorted(redeem["responses"]) == ["200", "201", "400", "403", "409"]
    launch = paths["/api/v1/campaigns/{code}/launch/"]["post"]
    assert sorted(launch["responses"]) == ["200", "403", "409"]
    assert sorted(paths) == [
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{code}/",
        "/api/v1/campaigns/{code}/cancel/",
        "/api/v1/campaigns/{code}/deliveries/",
        "/api/v1/campaigns/{code}/finish/",
        "/api/v1/campaigns/{code}/launch/",
        "/api/v1/campaigns/{code}/pause/",
        "/api/v1/campaigns/{code}/report/",
        "/api/v1/campaigns/{code}/resume/",
        "/api/v1/campaigns/{code}/schedule/",
        "/api/v1/campaigns/{code}/start/",
        "/api/v1/claims/",
        "/api/v1/coupon-templates/",
        "/api/v1/coupon-templates/{code}/",
        "/api/v1/redemptions/",
    ]


def test_project_schema_is_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/claims/" in response.content

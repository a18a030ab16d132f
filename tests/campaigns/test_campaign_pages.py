"""Marketer pages of campaigns: the wizard, the campaign page and its actions, the lists
with their filters and exports, and the coupon template form."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignResource, CouponEvent, CouponTemplate
from crm.core.models import AuditEntry
from crm.models import Channel
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def local_input(moment) -> str:
    """A moment as a datetime-local input sends it (operator's zone, minutes)."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def flashed(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def wizard_data(segment, **overrides) -> dict:
    start = timezone.localtime().replace(second=0, microsecond=0) + DAY
    data = {
        "name": "Summer snacks",
        "code": "summer-snacks",
        "business_line": "snacks",
        "campaign_type": "targeted",
        "segment": str(segment.pk),
        "cities": "Shanghai, Hangzhou",
        "holdout_percent": "10",
        "claim_starts_at": local_input(start),
        "claim_ends_at": local_input(start + 7 * DAY),
        "daily_limit_per_customer": "1",
        "limit_per_customer": "2",
        "stock": "500",
        "budget": "5000",
        "trigger": "login",
        "channels": ["app_push"],
        "resources-TOTAL_FORMS": "2",
        "resources-INITIAL_FORMS": "0",
        "resources-MIN_NUM_FORMS": "0",
        "resources-MAX_NUM_FORMS": "1000",
        "resources-0-template": "ten-off",
        "resources-0-quantity": "1",
        "resources-1-template": "",
        "resources-1-quantity": "1",
    }
    data.update(overrides)
    return data


# The wizard -----------------------------------------------------------------------------


def test_wizard_creates_a_draft_campaign(
    make_template, shanghai, app_push, marketer, marketer_client
):
    # given
    make_template(code="ten-off")
    data = wizard_data(shanghai)
    # when
    response = marketer_client.post(reverse("campaign-create"), data)
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("campaign-detail", args=["summer-snacks"])
    campaign = Campaign.objects.get()
    assert (
        campaign.name,
        campaign.status,
        campaign.segment,
        campaign.cities,
        campaign.holdout_share,
        timezone.localtime(campaign.claim_starts_at).strftime("%Y-%m-%dT%H:%M"),
        campaign.trigger,
        campaign.stock,
        campaign.budget,
        campaign.created_by,
    ) == (
        "Summer snacks",
        "draft",
        shanghai,
        ["Shanghai", "Hangzhou"],
        Decimal("0.100"),
        data["claim_starts_at"],
        "login",
        500,
        Decimal("5000.00"),
        marketer,
    )
    assert list(campaign.channels.values_list("code", flat=True)) == ["app_push"]
    assert list(CampaignResource.objects.values_list("template__code", "quantity")) == [
        ("ten-off", 1)
    ]
    assert flashed(response) == [
        ("success", "Campaign summer-snacks is saved as a draft. Schedule it when it is ready.")
    ]
    assert AuditEntry.objects.get().action == "campaign.create"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"claim_ends_at": "2020-01-01T00:00"},
            "claim_ends_at",
            "The claim window must end after it starts.",
            id="window-reversed",
        ),
        pytest.param(
            {"daily_limit_per_customer": "5"},
            "daily_limit_per_customer",
            "Cannot exceed the limit per customer for the whole campaign (2).",
            id="daily-over-total",
        ),
        pytest.param(
            {"holdout_percent": "100"},
            "holdout_percent",
            "Ensure this value is less than or equal to 99.9.",
            id="holdout-everyone",
        ),
        pytest.param(
            {"stock": "0"},
            "stock",
            "Ensure this value is greater than or equal to 1.",
            id="no-stock",
        ),
    ],
)
def test_wizard_shows_what_is_wrong_and_saves_nothing(
    make_template, shanghai, app_push, marketer_client, overrides, field, message
):
    # given
    make_template(code="ten-off")
    # when
    response = marketer_client.post(reverse("campaign-create"), wizard_data(shanghai, **overrides))
    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [message]}
    assert Campaign.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_wizard_refuses_the_same_template_twice(make_template, shanghai, app_push, marketer_client):
    make_template(code="ten-off")
    data = wizard_data(shanghai, **{"resources-1-template": "ten-off"})
    response = marketer_client.post(reverse("campaign-create"), data)
    assert response.status_code == 200
    assert response.context["formset"].non_form_errors() == [
        "Each coupon template may appear once; raise its quantity instead."
    ]
    assert Campaign.objects.count() == 0


def test_wizard_refuses_a_code_in_use(make_campaign, make_template, shanghai, marketer_client):
    make_campaign(code="summer-snacks")
    make_template(code="ten-off")
    response = marketer_client.post(reverse("campaign-create"), wizard_data(shanghai))
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": ["Campaign with this Code already exists."]}
    assert Campaign.objects.count() == 1


def test_wizard_page_offers_segments_templates_and_channels(
    make_template, shanghai, app_push, marketer_client
):
    make_template(code="ten-off")
    response = marketer_client.get(reverse("campaign-create"))
    assert response.status_code == 200
    content = response.content.decode()
    assert f'<option value="{shanghai.pk}">Shanghai</option>' in content
    assert "ten-off · 10 off 50" in content
    assert 'value="app_push"' in content
    assert f'hx-get="{reverse("campaign-audience-size")}"' in content


def test_audience_size_counts_the_segment_now(shanghai, marketer_client):
    # given: 3 of 4 customers live in Shanghai
    for n in range(3):
        CustomerFactory(customer_id=f"SH-{n}", city="Shanghai")
    CustomerFactory(customer_id="BJ-1", city="Beijing")
    # when
    response = marketer_client.get(reverse("campaign-audience-size"), {"segment": shanghai.pk})
    # then
    assert response.status_code == 200
    assert response.content.decode().strip() == (
        '<p class="audience-size" data-audience-size="3"><strong>3</strong> customers in '
        "“Shanghai” now: 75.0% of 4.</p>"
    )


def test_audience_size_without_a_segment_asks_for_one(marketer_client):
    response = marketer_client.get(reverse("campaign-audience-size"), {"segment": "x"})
    assert response.content.decode().strip() == (
        '<p class="muted">Choose a segment to see its size.</p>'
    )


def test_analyst_may_not_open_the_wizard(analyst_client):
    assert analyst_client.get(reverse("campaign-create")).status_code == 403


# Editing --------------------------------------------------------------------------------


def test_running_campaign_edit_changes_only_the_open_fields(make_campaign, marketer_client):
    # given: minute-precision moments, as the wizard saves them
    now = timezone.now().replace(second=0, microsecond=0)
    campaign = make_campaign(
        code="summer-snacks", claim_starts_at=now - DAY, claim_ends_at=now + 5 * DAY
    )
    page = marketer_client.get(reverse("campaign-update", args=["summer-snacks"]))
    form = page.context["form"]
    disabled = sorted(name for name, field in form.fields.items() if field.disabled)
    # when: the browser posts only the enabled fields; a forged segment is ignored
    response = marketer_client.post(
        reverse("campaign-update", args=["summer-snacks"]),
        {
            "name": "Summer",
            "stock": "300",
            "budget": "2000",
            "claim_ends_at": local_input(campaign.claim_ends_at),
            "segment": "999",
        },
    )
    # then
    assert disabled == sorted(set(form.fields) - {"name", "stock", "budget", "claim_ends_at"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.stock, campaign.budget, campaign.segment.name) == (
        "Summer",
        300,
        Decimal("2000.00"),
        "Shanghai",
    )
    assert AuditEntry.objects.get().changes == {
        "name": ["Spring snacks", "Summer"],
        "stock": [100, 300],
        "budget": ["1000.00", "2000.00"],
    }


def test_draft_edit_changes_its_coupons_and_channels(
    make_campaign, make_template, shanghai, app_push, marketer_client
):
    # given: a draft handing out one t1 coupon through app_push
    make_campaign(code="summer-snacks", status="draft")
    make_template(code="t9")
    Channel.objects.create(code="sms", name="SMS", kind="off_site")
    page = marketer_client.get(reverse("campaign-update", args=["summer-snacks"]))
    data = {
        name: value
        for name, value in page.context["form"].initial.items()
        if name not in ("segment", "channels", "claim_starts_at", "claim_ends_at")
    }
    campaign = Campaign.objects.get()
    # when: t1 removed, two t9 added, sms instead of app_push
    response = marketer_client.post(
        reverse("campaign-update", args=["summer-snacks"]),
        {
            **data,
            "segment": str(shanghai.pk),
            "claim_starts_at": local_input(campaign.claim_starts_at),
            "claim_ends_at": local_input(campaign.claim_ends_at),
            "channels": ["sms"],
            "resources-TOTAL_FORMS": "2",
            "resources-INITIAL_FORMS": "1",
            "resources-MIN_NUM_FORMS": "0",
            "resources-MAX_NUM_FORMS": "1000",
            "resources-0-template": "t1",
            "resources-0-quantity": "1",
            "resources-0-DELETE": "on",
            "resources-1-template": "t9",
            "resources-1-quantity": "2",
        },
    )
    # then
    assert response.status_code == 302
    assert [form.initial for form in page.context["formset"]] == [
        {"template": CouponTemplate.objects.get(code="t1"), "quantity": 1}
    ]
    assert list(CampaignResource.objects.values_list("template__code", "quantity")) == [("t9", 2)]
    assert AuditEntry.objects.get().changes == {
        "resources": [[["t1", 1]], [["t9", 2]]],
        "channels": [["app_push"], ["sms"]],
    }


# The campaign page and its actions ------------------------------------------------------


def test_schedule_from_the_page_starts_the_campaign(make_campaign, marketer_client):
    # given: a draft whose window is open now
    now = timezone.now()
    make_campaign(
        code="summer-snacks", status="draft", claim_starts_at=now - DAY, claim_ends_at=now + DAY
    )
    # when
    response = marketer_client.post(
        reverse("campaign-action", args=["summer-snacks"]), {"action": "schedule"}
    )
    # then
    assert response.status_code == 302
    assert Campaign.objects.get().status == "running"
    assert flashed(response) == [("success", "Campaign summer-snacks is running.")]
    page = marketer_client.get(reverse("campaign-detail", args=["summer-snacks"]))
    assert [action["name"] for action in page.context["actions"]] == ["pause", "finish", "cancel"]


def test_refused_schedule_shows_every_reason_and_changes_nothing(make_campaign, marketer_client):
    # given: no channel, budget below one grant
    now = timezone.now()
    make_campaign(
        code="summer-snacks",
        status="draft",
        channels=[],
        budget=Decimal("5.00"),
        claim_starts_at=now - DAY,
        claim_ends_at=now + DAY,
    )
    # when
    response = marketer_client.post(
        reverse("campaign-action", args=["summer-snacks"]), {"action": "schedule"}, follow=True
    )
    # then
    assert [str(message) for message in response.context["messages"]] == [
        "Schedule refused: choose at least one channel.",
        "Schedule refused: the budget 5.00 is below the cost of one grant (10.00).",
    ]
    assert "Schedule refused: choose at least one channel." in response.content.decode()
    assert Campaign.objects.get().status == "draft"
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("start", "action", "after"),
    [
        ("running", "pause", "paused"),
        ("paused", "resume", "running"),
        ("running", "finish", "finished"),
        ("draft", "cancel", "cancelled"),
    ],
)
def test_status_buttons_call_the_lifecycle(make_campaign, marketer_client, start, action, after):
    now = timezone.now()
    make_campaign(code="c", status=start, claim_starts_at=now - DAY, claim_ends_at=now + DAY)
    marketer_client.post(reverse("campaign-action", args=["c"]), {"action": action})
    assert Campaign.objects.get().status == after


def test_unknown_action_is_400(make_campaign, marketer_client):
    make_campaign(code="c")
    response = marketer_client.post(reverse("campaign-action", args=["c"]), {"action": "explode"})
    assert response.status_code == 400
    assert Campaign.objects.get().status == "running"


def test_analyst_may_not_act(make_campaign, analyst_client):
    make_campaign(code="c")
    response = analyst_client.post(reverse("campaign-action", args=["c"]), {"action": "pause"})
    assert response.status_code == 403
    assert Campaign.objects.get().status == "running"


def test_campaign_page_shows_stock_budget_refusals_and_grants(
    make_campaign, app_push, as_of, analyst_client
):
    # given: refusals of two reasons recorded by the engine, one grant
    campaign = make_campaign(code="summer-snacks", stock=100, budget=Decimal("1000.00"))
    customer = CustomerFactory(customer_id="SH-9")
    for reason in ("daily_limit", "daily_limit", "out_of_stock"):
        CouponEvent.objects.create(
            kind="refusal", at=as_of, campaign=campaign, customer=customer, reason=reason
        )
    Campaign.objects.filter(pk=campaign.pk).update(issued_count=40, spent=Decimal("400.00"))
    # when
    response = analyst_client.get(reverse("campaign-detail", args=["summer-snacks"]))
    # then
    assert response.status_code == 200
    detail = response.context["detail"]
    assert [(row.reason, row.label, row.refusals) for row in detail.refusals] == [
        ("daily_limit", "Daily limit per customer reached", 2),
        ("out_of_stock", "Out of stock", 1),
    ]
    assert (response.context["stock_left"], response.context["budget_left"]) == (
        60,
        Decimal("600.00"),
    )
    assert response.context["can_edit"] is False
    content = response.content.decode()
    assert "<strong>40</strong> of 100 coupons issued · 60 left" in content
    assert "Daily limit per customer reached" in content


def test_unknown_campaign_page_is_404(analyst_client):
    assert analyst_client.get(reverse("campaign-detail", args=["nope"])).status_code == 404


# Lists and exports ----------------------------------------------------------------------


def test_campaign_list_filters_by_status_business_line_and_type(make_campaign, analyst_client):
    # given
    make_campaign(code="run-snacks")
    make_campaign(code="draft-snacks", status="draft")
    make_campaign(code="run-drinks", business_line="drinks", campaign_type="special")
    url = reverse("campaign-list")
    # when
    by_status = analyst_client.get(url, {"status": "draft"})
    by_line = analyst_client.get(url, {"business_line": "drinks"})
    by_type = analyst_client.get(url, {"campaign_type": "targeted", "status": "running"})
    # then
    assert [c.code for c in by_status.context["campaigns"]] == ["draft-snacks"]
    assert [c.code for c in by_line.context["campaigns"]] == ["run-drinks"]
    assert [c.code for c in by_type.context["campaigns"]] == ["run-snacks"]
    assert by_status.context["business_lines"] == ["drinks", "snacks"]


def test_campaign_list_page_reads_in_the_same_number_of_queries_for_1_or_5_campaigns(
    make_campaign, analyst_client
):
    make_campaign(code="a")
    with CaptureQueriesContext(connection) as one:
        analyst_client.get(reverse("campaign-list"))
    for n in range(4):
        make_campaign(code=f"b{n}")
    with CaptureQueriesContext(connection) as five:
        response = analyst_client.get(reverse("campaign-list"))
    assert len(response.context["campaigns"]) == 5
    assert len(five) == len(one)


def test_campaign_list_is_paginated_by_50(make_campaign, analyst_client):
    for n in range(51):
        make_campaign(code=f"c-{n:02d}", status="draft")
    first = analyst_client.get(reverse("campaign-list"))
    second = analyst_client.get(reverse("campaign-list"), {"page": 2})
    assert (len(first.context["campaigns"]), len(second.context["campaigns"])) == (50, 1)


def test_campaign_export_is_the_filtered_list_as_csv(make_campaign, make_template, analyst_client):
    # given
    now = timezone.now().replace(second=0, microsecond=0)
    make_campaign(
        code="summer-snacks",
        name="=HYPERLINK()",
        template=make_template(code="ten-off"),
        claim_starts_at=now,
        claim_ends_at=now + DAY,
    )
    make_campaign(code="other", status="draft")
    # when
    response = analyst_client.get(reverse("campaign-export"), {"status": "running"})
    # then
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        [
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
        ],
        [
            "summer-snacks",
            "'=HYPERLINK()",
            "running",
            "snacks",
            "targeted",
            "Shanghai",
            "",
            timezone.localtime(now).isoformat(timespec="minutes"),
            timezone.localtime(now + DAY).isoformat(timespec="minutes"),
            "login",
            "app_push",
            "ten-offx1",
            "1",
            "3",
            "100",
            "0",
            "1000.00",
            "0.00",
            "0.000",
        ],
    ]


# Coupon templates -----------------------------------------------------------------------


def template_data(**overrides) -> dict:
    data = {
        "code": "ten-off",
        "name": "10 off 50",
        "kind": "cash",
        "face_value": "10",
        "max_discount": "",
        "threshold": "50",
        "validity": "relative",
        "valid_days": "7",
        "valid_from": "",
        "valid_until": "",
        "categories": "nuts, snacks,",
        "skus": "",
        "stores": "",
        "cities": "",
        "cost_bearer": "merchant",
    }
    data.update(overrides)
    return data


def test_template_form_creates_a_template(marketer_client):
    response = marketer_client.post(reverse("coupon-template-create"), template_data())
    assert response.status_code == 302
    template = CouponTemplate.objects.get()
    assert (
        template.code,
        template.kind,
        template.face_value,
        template.threshold,
        template.valid_days,
        template.valid_from,
        template.categories,
        template.cost_bearer,
    ) == (
        "ten-off",
        "cash",
        Decimal("10.00"),
        Decimal("50.00"),
        7,
        None,
        ["nuts", "snacks"],
        "merchant",
    )
    # No order holds these categories here (tests/campaigns/test_restriction_values.py).
    assert flashed(response) == [
        ("success", "Coupon template ten-off is created."),
        (
            "warning",
            "No order holds the category 'nuts' yet, so the coupon fits no order until one does.",
        ),
        (
            "warning",
            "No order holds the category 'snacks' yet, so the coupon fits no order until one does.",
        ),
    ]


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"kind": "percent", "face_value": "15"},
            {
                "max_discount": [
                    "A percent discount needs a cap: the largest discount one coupon gives "
                    "(it is also what one coupon costs the campaign budget)."
                ]
            },
            id="percent-without-cap",
        ),
        pytest.param(
            {"max_discount": "5"},
            {"max_discount": ["Only percent discounts take a maximum discount; leave it empty."]},
            id="cap-on-cash",
        ),
        pytest.param(
            {"validity": "fixed"},
            {
                "valid_from": ["Fixed dates need their start."],
                "valid_until": ["Fixed dates need their end."],
            },
            id="fixed-without-dates",
        ),
        pytest.param(
            {"valid_days": ""},
            {"valid_days": ["Say how many days the coupon stays valid after the claim."]},
            id="relative-without-days",
        ),
        pytest.param(
            {
                "validity": "fixed",
                "valid_from": "2026-08-01T00:00",
                "valid_until": "2026-07-01T00:00",
            },
            {"valid_until": ["Must be after valid from."]},
            id="fixed-reversed",
        ),
    ],
)
def test_template_form_explains_invalid_values(marketer_client, overrides, errors):
    response = marketer_client.post(reverse("coupon-template-create"), template_data(**overrides))
    assert response.status_code == 200
    assert response.context["form"].errors == errors
    assert CouponTemplate.objects.count() == 0


def test_fixed_validity_ignores_the_days_field(marketer_client):
    response = marketer_client.post(
        reverse("coupon-template-create"),
        template_data(
            validity="fixed", valid_from="2026-07-01T00:00", valid_until="2026-08-01T00:00"
        ),
    )
    assert response.status_code == 302
    template = CouponTemplate.objects.get()
    assert (template.valid_days, timezone.localtime(template.valid_from).isoformat()) == (
        None,
        "2026-07-01T00:00:00+08:00",
    )


def test_template_in_use_refuses_a_new_face_value_on_the_page(
    make_campaign, make_template, marketer_client
):
    # given
    make_campaign(template=make_template(code="ten-off"))
    # when
    response = marketer_client.post(
        reverse("coupon-template-update", args=["ten-off"]), template_data(face_value="20")
    )
    # then
    assert response.status_code == 200
    assert response.context["in_use"] is True
    assert response.context["form"].non_field_errors() == [
        "face value cannot change: coupons of template ten-off are issued or a live campaign "
        "hands it out; create a new template instead",
        "categories cannot change: coupons of template ten-off are issued or a live campaign "
        "hands it out; create a new template instead",
        "cost bearer cannot change: coupons of template ten-off are issued or a live campaign "
        "hands it out; create a new template instead",
    ]
    assert CouponTemplate.objects.get().face_value == Decimal("10.00")


def test_template_list_filters_by_kind_and_exports(make_template, analyst_client):
    # given
    make_template(code="cash-a")
    make_template(code="pct-b", kind="percent", face_value=Decimal("15"), max_discount=20)
    # when
    page = analyst_client.get(reverse("coupon-template-list"), {"kind": "percent"})
    export = analyst_client.get(reverse("coupon-template-export"), {"kind": "cash"})
    # then
    assert [template.code for template in page.context["templates"]] == ["pct-b"]
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[1:] == [
        [
            "cash-a",
            "10 off 50",
            "cash",
            "10.00",
            "",
            "50.00",
            "",
            "",
            "7",
            "",
            "",
            "",
            "",
            "platform",
        ]
    ]


def test_support_and_integration_may_not_open_campaign_pages(client, support, integration):
    for user in (support, integration):
        client.force_login(user)
        assert client.get(reverse("campaign-list")).status_code == 403
        assert client.get(reverse("coupon-template-list")).status_code == 403


def test_channel_fixture_kinds_render_in_the_wizard(make_template, shanghai, marketer_client):
    Channel.objects.create(code="homepage", name="Homepage", kind="on_site")
    response = marketer_client.get(reverse("campaign-create"))
    assert "Homepage (on site)" in response.content.decode()

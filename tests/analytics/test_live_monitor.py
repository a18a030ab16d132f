"""The live monitor: grants per minute over the last 30 minutes, stock and budget left,
refusals by reason over the last hour, against counts made here from the claims the test
made at known moments before the real clock."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign
from campaigns.services.claims import claim_coupon
from tests.conftest import make_user, token_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/live/"


@pytest.fixture
def claims(make_campaign, lenient_harassment_rules):
    """c1 running with claims 0..40 minutes ago and refusals 10 and 90 minutes ago; c2
    finished, c3 scheduled."""
    now = timezone.now()
    for n in range(12):
        CustomerFactory(customer_id=f"L{n:02d}", city="Shanghai")
    outsider = CustomerFactory(customer_id="X1", city="Beijing")
    window = {"claim_starts_at": now - timedelta(days=1), "claim_ends_at": now + timedelta(days=1)}
    make_campaign(code="c1", stock=50, **window)
    make_campaign(code="c2", status="finished", **window)
    make_campaign(code="c3", status="scheduled", **window)
    ago = [0.1, 0.2, 1.5, 3, 3.2, 7, 28, 40]  # minutes before now
    moments = []
    for n, minutes in enumerate(ago):
        moment = now - timedelta(minutes=minutes)
        claim_coupon(
            campaign="c1",
            customer=f"L{n:02d}",
            channel="app_push",
            trigger="login",
            idempotency_key=f"k{n}",
            now=moment,
        )
        moments.append(moment)
    for n, minutes in enumerate([10, 90]):
        with pytest.raises(ClaimRefused):
            claim_coupon(
                campaign="c1",
                customer=outsider.customer_id,
                channel="app_push",
                trigger="login",
                idempotency_key=f"out{n}",
                now=now - timedelta(minutes=minutes),
            )
    return moments


def per_minute(moments, now) -> list[int]:
    """Grants in each of the 30 whole minutes ending with the one `now` is in."""
    current = now.replace(second=0, microsecond=0)
    starts = [current - timedelta(minutes=29 - n) for n in range(30)]
    return [sum(1 for m in moments if s <= m < s + timedelta(minutes=1)) for s in starts]


def test_the_monitor_counts_the_last_minutes_and_hour(claims):
    moments = claims
    body = token_client(make_user("analyst")).get(URL).json()

    now = datetime.fromisoformat(body["now"])
    assert [row["campaign"] for row in body["campaigns"]] == ["c1"]
    row = body["campaigns"][0]
    assert row["grants_per_minute"] == per_minute(moments, now)
    assert sum(row["grants_per_minute"]) == 7  # the claim 40 minutes ago is outside
    assert row["stock_left"] == 50 - len(moments)
    assert row["budget_left"] == str(Decimal("1000.00") - 10 * len(moments))
    assert row["refusals"] == {"not_in_audience": 1}  # the one 90 minutes ago is out
    assert body["pushes"] == []


def test_the_page_polls_its_panel_and_shows_the_numbers(claims):
    moments = claims
    analyst = make_user("analyst")
    browser = APIClient()
    browser.force_login(analyst)

    page = browser.get(reverse("live-monitor")).content.decode()
    panel = browser.get(reverse("live-monitor"), {"panel": "1"}).content.decode()

    assert 'hx-trigger="every 5s"' in page
    assert f'hx-get="{reverse("live-monitor")}?panel=1"' in panel
    assert "<html" not in panel
    row = panel.split('data-campaign="c1"', 1)[1].split("</tr>", 1)[0]
    assert f'data-live="stock_left">{50 - len(moments)} ' in row
    assert "<code>not_in_audience</code> 1" in row
    assert 'data-campaign="c2"' not in panel
    assert token_client(make_user("integration")).get(URL).status_code == 403
    assert Campaign.objects.count() == 3
    export = browser.get(reverse("live-monitor-export"))
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0].startswith("campaign,status,grants_this_minute,grants_last_30_minutes,")
    assert [line.split(",")[0] for line in lines[1:]] == ["c1"]
    assert lines[1].split(",")[3:] == ["7", str(50 - len(moments)), "920.00", "not_in_audience=1"]

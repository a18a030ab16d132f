"""A customer base too slow for a request (a segment's at a million customers) is computed
in the background from the page, with its progress; the page and the API then read it,
with the numbers of the definitions (the plain-Python reference of test_customer_base).

The request is made too slow by holding the customer table locked from another connection
past a limit of half a second."""

import html
import re
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.customer_base import customer_base
from analytics.filters import Period
from analytics.services.customer_base_snapshots import (
    compute_customer_base_snapshot,
    start_customer_base_snapshot,
)
from crm.core.jobs import fail_job
from crm.core.models import Job
from segments.rules import canonical_rules
from tests.analytics.test_customer_base import (
    END,
    PERIOD,
    URL,
    check,
    expected,
    shanghai_buyers_ltv,
)
from tests.analytics.test_customer_base_facts import BUILT_AT, build
from tests.conftest import customer_table_locked, make_user, token_client

SNAPSHOT_FORM = r'action="([^"]+)" class="facts-form"'


@pytest.fixture
def short_limit(settings):
    settings.REPORT_TIME_LIMIT_SECONDS = 0.5
    with connection.cursor() as cursor:
        # A safety net, so that a query left unbounded fails the test instead of hanging it.
        cursor.execute("SET statement_timeout = '5s'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


@pytest.mark.django_db(transaction=True)
def test_a_segment_too_slow_for_the_page_is_computed_in_the_background(base, short_limit):
    client = APIClient()
    client.force_login(make_user("analyst"))
    query = {**PERIOD, "segment": base["segment"].pk}

    # when the page cannot compute it in time
    with customer_table_locked():
        page = client.get(reverse("customer-base"), query)
    # then it says so and offers the background computation
    assert page.status_code == 200
    content = page.content.decode()
    assert "took longer than 0.5 s and was stopped" in content
    assert "Compute it in the background" in content

    # when an analyst asks for it (the worker runs it at once here)
    action = html.unescape(re.search(SNAPSHOT_FORM, content).group(1))
    response = client.post(action)

    # then the page comes back with the same filters, and reads the computation
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('customer-base')}?{urlencode(query)}"
    job = Job.objects.get(kind="customer_base_snapshot")
    assert (job.status, job.message) == ("succeeded", "As of 2026-07-01 00:00.")
    with customer_table_locked():
        body = client.get(URL, query).json()
        page = client.get(reverse("customer-base"), query).content.decode()
    assert body["computed_in_background"] is True
    assert datetime.fromisoformat(body["as_of"]) == END
    shanghai = [pk for pk, c in base["customers"].items() if c.city == "Shanghai"]
    assert body["customers"] == len(shanghai)
    check(body, expected(base, shanghai))
    assert [row["name"] for row in body["segments"]] == ["Shanghai", "Shanghai buyers"]
    assert "Computed in the background as of 2026-07-01 00:00" in page


@pytest.mark.django_db(transaction=True)
def test_the_api_computes_in_the_background_what_it_refused_as_too_slow(base, short_limit):
    client = token_client(make_user("analyst"))
    query = {**PERIOD, "segment": base["segment"].pk}
    with customer_table_locked():
        refused = client.get(URL, query)
    assert refused.status_code == 422
    assert refused.json()["reason"] == "statement_timeout"

    # when the caller asks for it in the background (the worker runs it at once here)
    started = client.post(f"{URL}snapshots/", query, format="json")

    # then it answers 202 with its job, which the caller follows to its end
    assert started.status_code == 202
    job = started.json()
    assert (job["first_day"], job["last_day"], job["segment"]) == (
        PERIOD["first_day"],
        PERIOD["last_day"],
        base["segment"].pk,
    )
    followed = client.get(f"{URL}snapshots/{job['job']}/").json()
    assert (followed["status"], followed["percent"]) == ("succeeded", 100)
    assert datetime.fromisoformat(followed["as_of"]) == END
    # and the report answers from it, with the definitions' numbers
    with customer_table_locked():
        body = client.get(URL, query).json()
    assert body["computed_in_background"] is True
    shanghai = [pk for pk, c in base["customers"].items() if c.city == "Shanghai"]
    check(body, expected(base, shanghai))
    # and bad input is named, an unknown job is 404, and integrations do not read reports
    bad = client.post(f"{URL}snapshots/", {"segment": 10**9}, format="json")
    assert bad.status_code == 400
    assert list(bad.json()) == ["segment"]
    not_a_day = client.post(f"{URL}snapshots/", {"last_day": [None, None]}, format="json")
    assert not_a_day.status_code == 400
    assert list(not_a_day.json()) == ["last_day"]
    assert client.post(f"{URL}snapshots/", [1, 2], format="json").status_code == 400
    assert client.get(f"{URL}snapshots/{10**9}/").status_code == 404
    integration = token_client(make_user("integration"))
    assert integration.post(f"{URL}snapshots/", query, format="json").status_code == 403


@pytest.mark.django_db
def test_a_computation_under_way_shows_its_progress_and_is_asked_for_once(base):
    client = APIClient()
    client.force_login(make_user("marketer"))
    query = {**PERIOD, "segment": base["segment"].pk}
    action = f"{reverse('customer-base-snapshot')}?{urlencode(query)}"

    # when it is asked for twice (no worker runs it: the test's transaction never commits)
    client.post(action)
    client.post(action)

    # then there is one, and the page shows its progress instead of computing
    job = Job.objects.get(kind="customer_base_snapshot")
    assert job.status == "pending"
    page = client.get(reverse("customer-base"), query).content.decode()
    assert "This customer base is being computed in the background." in page
    assert "waiting for a worker" in page
    progress_url = reverse("customer-base-snapshot-progress", args=[job.pk])
    assert f'hx-get="{progress_url}"' in page
    assert "Compute it in the background" not in page
    fragment = client.get(progress_url).content.decode()
    assert 'hx-trigger="every 2s"' in fragment
    # and once it is done, the fragment stops polling and offers the reload
    compute_customer_base_snapshot(job_id=job.pk, now=timezone.now())
    fragment = client.get(progress_url).content.decode()
    assert "hx-trigger" not in fragment
    assert "Reload to read it" in fragment
    assert client.get(reverse("customer-base"), query).status_code == 200
    # a second computation of the same is not run (a redelivered task)
    assert compute_customer_base_snapshot(job_id=job.pk, now=timezone.now()) is None


@pytest.mark.django_db
@pytest.mark.parametrize("over", [True, False], ids=["a period over", "a period to today"])
def test_a_computation_is_read_for_a_day(base, over):
    today = timezone.localdate()
    period = Period(date(2026, 3, 1), date(2026, 6, 30)) if over else Period(today, today)
    segment = base["segment"]
    job = start_customer_base_snapshot(actor=None, period=period, segment=segment, now=END)
    computed_at = timezone.now()
    snapshot = compute_customer_base_snapshot(job_id=job.pk, now=computed_at)
    assert snapshot.as_of == (END if over else computed_at)

    later = customer_base(period=period, now=computed_at + timedelta(hours=25), segment=segment)
    too_late = customer_base(period=period, now=computed_at + timedelta(hours=27), segment=segment)

    # read for a day after it was computed, as of its moment
    assert later.computed_in_background
    assert later.as_of == snapshot.as_of
    # and then computed again (history imported since may have changed it)
    assert not too_late.computed_in_background
    assert too_late.as_of == period.ends_at
    assert snapshot.data["customers"] == too_late.customers == 30


@pytest.mark.django_db(transaction=True)
def test_facts_too_slow_for_the_page_at_a_past_end_are_computed_in_the_background(
    base, short_limit, settings
):
    """The facts answer whole months, but LTV by segment at a period's end before their
    moment is computed from the orders: the part that can be too slow. The background
    computation computes it without the limit, and the page then reads that."""
    build(as_of=BUILT_AT)
    client = APIClient()
    client.force_login(make_user("analyst"))

    with customer_table_locked():
        stopped = client.get(URL, PERIOD)
    assert stopped.status_code == 422
    # (a limit no query meets: the computation in the background has none)
    settings.REPORT_TIME_LIMIT_SECONDS = 0.000001
    start_customer_base_snapshot(
        actor=None,
        period=Period(date(2026, 3, 1), date(2026, 6, 30)),
        segment=None,
        now=timezone.now(),
    )
    with customer_table_locked():
        body = client.get(URL, PERIOD).json()

    assert body["computed_in_background"] is True
    assert datetime.fromisoformat(body["as_of"]) == END
    check(body, expected(base, list(base["customers"])))
    assert body["segments"][1:] == [shanghai_buyers_ltv(base, END)]


@pytest.mark.django_db
def test_a_segment_edited_since_is_computed_again(base):
    segment = base["segment"]
    period = Period(date(2026, 3, 1), date(2026, 6, 30))
    job = start_customer_base_snapshot(actor=None, period=period, segment=segment, now=END)
    compute_customer_base_snapshot(job_id=job.pk, now=timezone.now())
    assert customer_base(period=period, now=timezone.now(), segment=segment).computed_in_background

    segment.rules = canonical_rules({"field": "city", "op": "eq", "value": "Beijing"})
    segment.save(update_fields=["rules"])

    again = customer_base(period=period, now=timezone.now(), segment=segment)
    assert not again.computed_in_background
    beijing = [pk for pk, c in base["customers"].items() if c.city == "Beijing"]
    assert again.customers == len(beijing) == 10


@pytest.mark.django_db
def test_a_failed_computation_offers_to_compute_the_same_again(base):
    client = APIClient()
    client.force_login(make_user("analyst"))
    segment = base["segment"]
    period = Period(date(2026, 3, 1), date(2026, 6, 30))
    job = start_customer_base_snapshot(actor=None, period=period, segment=segment, now=END)
    fail_job(job=job, now=timezone.now(), message="The computation stopped: the worker died")

    # the polled fragment has no query of its own: its button carries the computation's
    fragment = client.get(reverse("customer-base-snapshot-progress", args=[job.pk]))

    content = fragment.content.decode()
    assert "The computation stopped: the worker died" in content
    action = html.unescape(re.search(SNAPSHOT_FORM, content).group(1))
    assert action == (
        f"{reverse('customer-base-snapshot')}?first_day=2026-03-01&last_day=2026-06-30"
        f"&segment={segment.pk}"
    )


@pytest.mark.django_db
def test_facts_built_after_a_computation_are_read_instead(base):
    period = Period(date(2026, 3, 1), date(2026, 6, 30))
    job = start_customer_base_snapshot(actor=None, period=period, segment=None, now=END)
    computed_at = timezone.now()
    compute_customer_base_snapshot(job_id=job.pk, now=computed_at)
    assert customer_base(period=period, now=computed_at, segment=None).computed_in_background

    facts = build(as_of=computed_at + timedelta(minutes=1))

    after = customer_base(period=period, now=computed_at + timedelta(minutes=2), segment=None)
    assert not after.computed_in_background
    assert after.facts == facts
    assert after.customers == 40

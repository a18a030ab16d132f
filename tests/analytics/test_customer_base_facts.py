"""The customer base read from its monthly facts against the same plain-Python references as
the live report (tests/analytics/test_customer_base.py): a period of whole months, one
running past the build (read as of it), and the periods the facts do not answer; the page's
build button, its progress, and a build by a real Celery worker."""

import html
import re
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import CustomerBaseFacts
from analytics.services.customer_base_facts import build_customer_base_facts
from crm.core.jobs import create_job, start_job
from crm.core.models import Job
from crm.models import Order
from tests.analytics.test_customer_base import (
    END,
    PERIOD,
    SHANGHAI,
    URL,
    check,
    expected,
    shanghai_buyers_ltv,
)
from tests.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

START_OF_APRIL = datetime(2026, 4, 1, tzinfo=SHANGHAI)
# The build's moment: ten and a half days into July 2026.
BUILT_AT = datetime(2026, 7, 10, 12, tzinfo=SHANGHAI)


def build(as_of=BUILT_AT) -> CustomerBaseFacts:
    job = create_job(kind="customer_base_facts")
    facts = build_customer_base_facts(job_id=job.pk, as_of=as_of, now=timezone.now())
    job.refresh_from_db()
    assert (job.status, job.percent, job.done) == ("succeeded", 100, job.total)
    return facts


def test_whole_months_are_read_from_the_facts(base):
    facts = build()
    client = token_client(make_user("analyst"))

    body = client.get(URL, PERIOD).json()

    assert datetime.fromisoformat(body["facts_as_of"]) == BUILT_AT == facts.as_of
    assert body["facts_stale"] is False  # the period ends before the build
    assert datetime.fromisoformat(body["as_of"]) == END
    assert body["customers"] == 40
    check(body, expected(base, list(base["customers"])))
    # The facts cover the thirteen months to July 2026.
    assert facts.first_month.isoformat() == "2025-07-01"


def test_a_period_from_the_facts_first_month(base):
    # A build whose thirteen months start in March 2026: the period starts at its first
    # moment, where every path and mask begins.
    facts = build(as_of=datetime(2027, 3, 10, 12, tzinfo=SHANGHAI))
    assert facts.first_month.isoformat() == "2026-03-01"
    client = token_client(make_user("analyst"))

    body = client.get(URL, PERIOD).json()

    assert datetime.fromisoformat(body["facts_as_of"]) == facts.as_of
    check(body, expected(base, list(base["customers"])))
    one_month = client.get(URL, {"first_day": "2026-03-01", "last_day": "2026-03-31"}).json()
    assert one_month["facts_as_of"] is not None
    check(one_month, expected(base, list(base["customers"]), months=(3,), end=START_OF_APRIL))


def test_a_period_past_the_build_is_read_as_of_it(base):
    build()
    client = token_client(make_user("analyst"))

    body = client.get(URL, {"first_day": "2026-05-01", "last_day": "2026-07-31"}).json()

    assert datetime.fromisoformat(body["as_of"]) == BUILT_AT
    # months after the build, which is more than a day old: the page warns
    assert body["facts_stale"] is True
    assert [m["month"] for m in body["stages_by_month"]] == [
        "2026-05-01",
        "2026-06-01",
        "2026-07-01",
    ]
    check(body, expected(base, list(base["customers"]), months=(5, 6, 7), end=BUILT_AT))
    # LTV by segment at the build.
    assert body["segments"][1:] == [shanghai_buyers_ltv(base, BUILT_AT)]


def test_what_the_facts_do_not_answer_is_computed_from_the_orders(base):
    build()
    client = token_client(make_user("analyst"))
    everyone = list(base["customers"])

    # Not a month's first day; a segment; a period before the facts' first month.
    mid_month = client.get(URL, {"first_day": "2026-03-02", "last_day": "2026-06-30"}).json()
    segment = client.get(URL, {**PERIOD, "segment": base["segment"].pk}).json()
    early = client.get(URL, {"first_day": "2025-06-01", "last_day": "2025-09-30"}).json()

    assert mid_month["facts_as_of"] is None
    assert segment["facts_as_of"] is None
    assert early["facts_as_of"] is None
    shanghai = [pk for pk, c in base["customers"].items() if c.city == "Shanghai"]
    check(segment, expected(base, shanghai))
    assert mid_month["customers"] == len(everyone)


def test_orders_after_the_build_wait_for_the_next_one(base):
    build()
    client = token_client(make_user("analyst"))
    to_the_build = {"first_day": "2026-03-01", "last_day": "2026-07-31"}
    before = client.get(URL, to_the_build).json()
    whole_months = client.get(URL, PERIOD).json()
    customer = base["customers"][next(iter(base["customers"]))]
    Order.objects.create(
        order_id="LATE-1",
        customer=customer,
        placed_at=datetime(2026, 4, 15, 12, tzinfo=SHANGHAI),
        amount=Decimal("77.00"),
    )

    # Every table, LTV by segment included, is the build's.
    assert client.get(URL, to_the_build).json() == before

    rebuilt = build()
    after = client.get(URL, PERIOD).json()
    # The previous build is kept (a page that read its header still finds its rows).
    assert CustomerBaseFacts.objects.count() == 2
    assert CustomerBaseFacts.objects.order_by("-as_of", "-pk").first() == rebuilt
    revenue = sum(Decimal(cell["revenue"]) for cell in after["rfm"])
    assert revenue == sum(Decimal(c["revenue"]) for c in whole_months["rfm"]) + Decimal("77.00")


def test_the_page_builds_the_facts_and_shows_their_progress(
    base, django_capture_on_commit_callbacks
):
    marketer, analyst = APIClient(), APIClient()
    marketer.force_login(make_user("marketer"))
    analyst.force_login(make_user("analyst"))
    page = marketer.get(reverse("customer-base"), PERIOD).content.decode()
    assert "no monthly facts have been built yet" in page
    assert "Build the monthly facts now" in page
    assert (
        "Build the monthly facts now" not in analyst.get(reverse("customer-base")).content.decode()
    )
    assert analyst.post(reverse("customer-base-facts")).status_code == 403

    # the page's button posts with the page's filters, and the answer goes back to them
    action = html.unescape(re.search(r'action="([^"]+)" class="facts-form"', page).group(1))
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(action)

    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{reverse('customer-base')}?first_day=2026-03-01&last_day=2026-06-30"
    )
    job = Job.objects.get(kind="customer_base_facts")
    assert job.status == "succeeded"
    facts = CustomerBaseFacts.objects.get()
    assert facts.job == job
    assert timezone.now() - facts.as_of < timedelta(minutes=5)
    progress = analyst.get(reverse("customer-base-facts-progress", args=[job.pk]))
    assert progress.status_code == 200
    assert "Succeeded" in progress.content.decode()
    assert "Reload to read them" in progress.content.decode()
    assert "hx-trigger" not in progress.content.decode()
    # The default period, the twelve months to today, is read from the new facts.
    page = marketer.get(reverse("customer-base")).content.decode()
    assert "From the monthly facts as of" in page
    assert "Reload to read them" not in page
    # a page without filters goes back to the page without filters
    assert marketer.post(reverse("customer-base-facts"))["Location"] == reverse("customer-base")


def test_a_build_already_running_is_not_run_again(base):
    job = create_job(kind="customer_base_facts")
    start_job(job=job, now=timezone.now())

    # a redelivered task finds its job running elsewhere
    assert build_customer_base_facts(job_id=job.pk, as_of=BUILT_AT, now=timezone.now()) is None

    assert not CustomerBaseFacts.objects.exists()
    job.refresh_from_db()
    assert (job.status, job.done) == ("running", 0)


def test_two_starts_make_one_build(base):
    marketer = APIClient()
    marketer.force_login(make_user("marketer"))

    marketer.post(reverse("customer-base-facts"))
    marketer.post(reverse("customer-base-facts"))

    # Without the commit callbacks nothing ran: the first build is still pending.
    assert Job.objects.filter(kind="customer_base_facts").count() == 1
    pending = Job.objects.get(kind="customer_base_facts")
    fragment = marketer.get(reverse("customer-base-facts-progress", args=[pending.pk]))
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    assert "waiting for a worker" in fragment.content.decode()


@pytest.mark.usefixtures("transactional_db")
def test_a_worker_builds_the_facts(celery_worker_process):
    from tests.factories import CustomerFactory

    customers = CustomerFactory.create_batch(3)
    for n, customer in enumerate(customers):
        Order.objects.create(
            order_id=f"W-{n}",
            customer=customer,
            placed_at=timezone.now() - timedelta(days=40 * n + 1),
            amount=Decimal("20.00"),
        )
    marketer = APIClient()
    marketer.force_login(make_user("marketer"))

    marketer.post(reverse("customer-base-facts"))

    job = Job.objects.get(kind="customer_base_facts")
    deadline = time.monotonic() + 120
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.5)
        job.refresh_from_db()
    assert job.status == "succeeded", job.message
    body = token_client(make_user("analyst")).get(URL).json()
    assert body["facts_as_of"] is not None
    purchased = next(step for step in body["funnel"] if step["step"] == "purchased")
    assert purchased["customers"] == 3

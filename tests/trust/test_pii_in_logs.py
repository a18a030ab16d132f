"""Phone numbers and e-mail addresses never reach a log, nor a job's stored message
(SPEC §9), even when a database error quotes the row it failed on."""

import io
import logging
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignResource, CouponTemplate
from crm.core.models import Job
from crm.models import Channel, Customer
from segments.models import Segment
from segments.rules import canonical_rules
from tests.conftest import token_client

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
PHONES = ("13800138000", "13912345678", "+8613700001111", "021-5555-1234")
EMAILS = ("li.wei@example.com", "wu@example.cn", "ma+shop@mail.example.org")
SEEDED = (*PHONES, *EMAILS)
CUSTOMERS_CSV = (
    "customer_id,name,phone,email,city,gender\n"
    f"C1,Li Wei,{PHONES[0]},{EMAILS[0]},Shanghai,female\n"
    f"C2,Wu Fang,{PHONES[1]},{EMAILS[1]},Atlantis,female\n"
    f"C3,Ma Lin,{PHONES[2]},{EMAILS[2]},Wuhan,unknown\n"
).encode()


@pytest.fixture
def site_log():
    """What the site's own log handler (settings LOGGING, "console") writes meanwhile."""
    [handler] = [h for h in logging.getLogger().handlers if h.name == "console"]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@pytest.fixture
def atlantis_is_refused_by_the_database():
    """A CHECK constraint the data breaks, standing in for any constraint violation:
    PostgreSQL's DETAIL then quotes the whole failing row, phone and e-mail included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE crm_customer ADD CONSTRAINT test_no_atlantis "
            "CHECK (city <> 'Atlantis') NOT VALID"
        )


def test_an_import_and_a_request_failing_on_a_constraint_log_no_phone_or_email(
    client,
    marketer,
    integration,
    settings,
    tmp_path,
    site_log,
    atlantis_is_refused_by_the_database,
    django_capture_on_commit_callbacks,
):
    # given
    settings.MEDIA_ROOT = tmp_path
    client.force_login(marketer)
    api = token_client(integration)
    api.raise_request_exception = False

    # when: an upload whose batch the database refuses, and the same row through the API
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("import-create"),
            {"kind": "customers", "file": SimpleUploadedFile("people.csv", CUSTOMERS_CSV)},
        )
    answer = api.post(
        "/api/v1/customers/bulk/",
        {"items": [{"customer_id": "C2", "phone": PHONES[3], "email": EMAILS[1],
                    "city": "Atlantis"}]},
        format="json",
    )  # fmt: skip

    # then: both failures are logged, with their tracebacks, and nothing personal
    logged = site_log.getvalue()
    job = Job.objects.get()
    assert answer.status_code == 500
    assert (job.status, Customer.objects.count()) == ("failed", 0)
    assert logged.count('violates check constraint "test_no_atlantis"') >= 2
    assert "Traceback (most recent call last)" in logged
    assert "DETAIL: [redacted]" in logged
    for personal in (*SEEDED, "Wu Fang"):
        assert personal not in logged
        assert personal not in job.message


def test_a_database_error_quoting_a_value_leaves_it_out_of_the_job_message(
    client, marketer, settings, tmp_path, site_log, django_capture_on_commit_callbacks
):
    # given: a database error whose first line quotes the row's phone and e-mail
    settings.MEDIA_ROOT = tmp_path
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_customer() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'customer % (%) refused', NEW.phone, NEW.email;
            END $$;
            CREATE TRIGGER test_refuse_customer BEFORE INSERT ON crm_customer
                FOR EACH ROW EXECUTE FUNCTION test_refuse_customer();
            """
        )
    client.force_login(marketer)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("import-create"),
            {"kind": "customers", "file": SimpleUploadedFile("people.csv", CUSTOMERS_CSV)},
        )

    # then
    job = Job.objects.get()
    assert job.status == "failed"
    assert job.message == "The import stopped: customer [phone] ([email]) refused"
    logged = site_log.getvalue()
    assert "customer [phone] ([email]) refused" in logged
    for personal in SEEDED:
        assert personal not in logged


def test_django_s_own_loggers_write_through_the_redacting_handler(site_log):
    # given: what the development server and Django's request handling log
    records = [
        ("django.server", '"GET /customers/?q=13800138000 HTTP/1.1" 200 5120'),
        ("django.request", "Internal Server Error: /customers/?q=li.wei@example.com"),
    ]

    # when
    for name, message in records:
        logging.getLogger(name).error(message)

    # then
    assert site_log.getvalue().splitlines() == [
        '"GET /customers/?q=[phone] HTTP/1.1" 200 5120',
        "Internal Server Error: /customers/?q=[email]",
    ]


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        pytest.param(
            'new row violates check constraint "c"\nDETAIL:  Failing row contains '
            "(7, C1, Li, 13800138000, li@example.com, 1990-05-17).",
            'new row violates check constraint "c"\nDETAIL: [redacted]',
            id="failing-row",
        ),
        pytest.param(
            'duplicate key value violates unique constraint "u"\n'
            "DETAIL:  Key (email)=(li@example.com) already exists.",
            'duplicate key value violates unique constraint "u"\nDETAIL: [redacted]',
            id="key",
        ),
        pytest.param(
            'COPY import_stage_customers, line 2, column phone: "1380013800x"',
            "COPY import_stage_customers, line 2, column phone: [redacted]",
            id="copy-context",
        ),
        pytest.param("call +86 138 0013 8000 now", "call [phone] now", id="grouped"),
        pytest.param("Li (13800138000).", "Li ([phone]).", id="end-of-sentence"),
        pytest.param("fixed line 021-5555-1234", "fixed line [phone]", id="fixed-line"),
        pytest.param("phone=+8613800138000&x=1", "phone=[phone]&x=1", id="international"),
        pytest.param(
            '"GET /customers/C000123/ HTTP/1.1" 200 5120 on 2026-06-30 12:00:00: 200,000 '
            "rows in 1234.5678901 s (job 42, 12 34 56)",
            '"GET /customers/C000123/ HTTP/1.1" 200 5120 on 2026-06-30 12:00:00: 200,000 '
            "rows in 1234.5678901 s (job 42, 12 34 56)",
            id="ordinary-numbers-stay",
        ),
    ],
)
def test_the_redaction_rules(text, redacted, site_log):
    # when
    logging.getLogger("crm").warning(text)

    # then
    assert site_log.getvalue() == redacted + "\n"


def test_a_celery_worker_s_log_handlers_redact_too(tmp_path):
    # given: the logging a worker sets up (`celery worker` replaces the root handlers)
    script = (
        "import logging\n"
        "from crm.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "try:\n"
        "    raise RuntimeError('boom\\nDETAIL:  Failing row contains (C1, 13800138000).')\n"
        "except RuntimeError:\n"
        "    logging.getLogger('celery.app.trace').exception('Task failed for li@example.com')\n"
        "logging.getLogger('celery.task').error('task log: 13912345678')\n"
    )

    # when
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    # then
    logged = run.stderr
    assert "Task failed for [email]" in logged
    assert "DETAIL: [redacted]" in logged
    assert "task log: [phone]" in logged
    for personal in ("13800138000", "li@example.com", "13912345678"):
        assert personal not in logged


def test_a_full_import_claim_redeem_and_error_run_logs_no_phone_or_email(
    client, marketer, integration, settings, tmp_path, site_log, django_capture_on_commit_callbacks
):
    """The issue's run: customers and orders imported from files, a claim and a redemption
    through the API, a search by phone and by e-mail, and errors on the way (a refused
    claim, a redemption of another customer's coupon, a database constraint refusing an
    upload), then every line the site logged is searched for the seeded contacts."""
    # given a running campaign for Shanghai
    settings.MEDIA_ROOT = tmp_path
    now = timezone.now()
    app_push = Channel.objects.create(code="app_push", name="App push", kind="off_site")
    segment = Segment.objects.create(
        name="Shanghai", rules=canonical_rules({"field": "city", "op": "eq", "value": "Shanghai"})
    )
    template = CouponTemplate.objects.create(
        code="ten-off", name="10 off", kind="cash", face_value=Decimal("10"), valid_days=7
    )
    campaign = Campaign.objects.create(
        code="spring",
        name="Spring",
        business_line="snacks",
        segment=segment,
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=6),
        trigger="self",
        stock=10,
        budget=Decimal("100"),
        status="running",
    )
    CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
    campaign.channels.set([app_push])
    client.force_login(marketer)
    api = token_client(integration)
    api.raise_request_exception = False
    orders_csv = (
        "order_id,customer_id,placed_at,amount\n"
        f"O1,C1,{(now - timedelta(hours=2)).isoformat()},80.00\n"
        f"O2,C3,{(now - timedelta(hours=2)).isoformat()},30.00\n"
    ).encode()

    # when: imports of customers and orders through the page
    with django_capture_on_commit_callbacks(execute=True):
        for kind, content in (("customers", CUSTOMERS_CSV), ("orders", orders_csv)):
            client.post(
                reverse("import-create"),
                {"kind": kind, "file": SimpleUploadedFile(f"{kind}.csv", content)},
            )
    # a claim, a refused claim (C3 is in Wuhan), a redemption, and another customer's
    claim = {"campaign": "spring", "channel": "app_push", "trigger": "self"}
    granted = api.post(
        "/api/v1/claims/", {**claim, "customer": "C1", "idempotency_key": "k1"}, format="json"
    )
    refused = api.post(
        "/api/v1/claims/", {**claim, "customer": "C3", "idempotency_key": "k3"}, format="json"
    )
    code = granted.json()["code"]
    redemption = {"code": code, "order_id": "O1", "amount": "80.00"}
    redeemed = api.post("/api/v1/redemptions/", {**redemption, "customer": "C1"}, format="json")
    wrong = api.post(
        "/api/v1/redemptions/", {**redemption, "customer": "C3", "order_id": "O2"}, format="json"
    )
    # searches by phone and e-mail, and a phone where a customer id belongs
    searches = [
        client.get(reverse("customer-list"), {"q": value}) for value in (PHONES[0], EMAILS[0])
    ]
    unknown = api.post(
        "/api/v1/claims/", {**claim, "customer": PHONES[1], "idempotency_key": "k9"}, format="json"
    )
    # and an upload a database constraint refuses, quoting the row with its contacts
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE crm_customer ADD CONSTRAINT test_no_atlantis "
            "CHECK (city <> 'Atlantis') NOT VALID"
        )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("import-create"),
            {"kind": "customers", "file": SimpleUploadedFile("again.csv", CUSTOMERS_CSV)},
        )

    # then every step happened, and no contact reached a log or a job's message
    assert Customer.objects.filter(customer_id__in=["C1", "C2", "C3"]).count() == 3
    assert (granted.status_code, refused.status_code) == (201, 409)
    assert (redeemed.status_code, wrong.status_code) == (201, 409)
    assert [search.status_code for search in searches] == [200, 200]
    assert unknown.status_code == 400
    assert Job.objects.filter(status="failed").count() == 1
    logged = site_log.getvalue()
    assert 'violates check constraint "test_no_atlantis"' in logged
    messages = " ".join(Job.objects.values_list("message", flat=True))
    for personal in SEEDED[:3] + EMAILS:
        assert personal not in logged
        assert personal not in messages

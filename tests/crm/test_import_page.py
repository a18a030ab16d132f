"""The CSV upload page: upload, progress, counts and the refused rows (SPEC §1, §7)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.core.jobs import create_job, start_job
from crm.core.models import Job
from crm.models import Customer, Order
from crm.tasks import import_csv_file_task

pytestmark = pytest.mark.django_db

ORDERS_CSV = (
    b"order_id,customer_id,placed_at,amount,channel,store,city,status\n"
    b"O1,C1,2026-06-01,10,app,,,\n"
    b"O2,C1,2026-06-02,twelve,app,,,\n"
    b'O3,C2,2026-06-03,"1,000",web,S1,Wuhan,refunded\n'
)


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(client, kind: str, name: str, content: bytes, capture):
    with capture(execute=True):
        return client.post(
            reverse("import-create"),
            {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")},
        )


def download(client, job: Job) -> str:
    response = client.get(reverse("import-refused-rows", args=[job.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_a_marketer_uploads_a_file_and_follows_it_to_the_end(
    client, marketer, tmp_path, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)

    # when
    response = upload(client, "orders", "june.csv", ORDERS_CSV, django_capture_on_commit_callbacks)

    # then
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("import-detail", args=[job.pk])
    assert (job.kind, job.label, job.created_by, job.status) == (
        "import_orders",
        "june.csv",
        marketer,
        "succeeded",
    )
    assert (job.done, job.succeeded, job.failed) == (3, 2, 1)
    assert list((tmp_path / "imports").iterdir()) == []
    assert sorted(Order.objects.values_list("order_id", flat=True)) == ["O1", "O3"]
    page = client.get(response["Location"]).content.decode()
    assert "2 unknown customers created as placeholders" in page
    assert "3 rows: 2 created, 0 updated, 0 unchanged, 1 refused" in page
    assert (
        '<td class="num">3</td><td>amount &quot;twelve&quot; is not a decimal amount</td>' in page
    )
    assert reverse("import-refused-rows", args=[job.pk]) in page
    assert "hx-trigger" not in page
    assert download(client, job) == (
        "line,reason,order_id,customer_id,placed_at,amount,channel,store,city,status\r\n"
        '3,"amount ""twelve"" is not a decimal amount",O2,C1,2026-06-02,twelve,app,,,\r\n'
    )


def test_a_running_import_polls_its_progress_every_second(client, analyst, as_of):
    # given
    job = create_job(kind="import_orders", label="big.csv")
    start_job(job=job, now=as_of, total=1000)
    client.force_login(analyst)

    # when
    partial = client.get(reverse("import-progress", args=[job.pk])).content.decode()

    # then
    assert f'hx-get="{reverse("import-progress", args=[job.pk])}"' in partial
    assert 'hx-trigger="every 1s"' in partial
    assert 'hx-swap="outerHTML"' in partial
    assert "<html" not in partial


def test_a_file_with_a_bad_header_ends_the_job_failed_with_the_reason(
    client, marketer, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)

    # when
    response = upload(
        client, "customers", "people.csv", b"id,name\n1,Li\n", django_capture_on_commit_callbacks
    )

    # then
    job = Job.objects.get()
    assert job.status == "failed"
    assert job.message == (
        'Unknown column "id" in the header. The customers columns are: customer_id, name, '
        "phone, email, gender, birth_date, city, region, occupation, is_member, member_tier, "
        "registered_at, tags, consent, identities."
    )
    assert Customer.objects.count() == 0
    assert (
        "Unknown column &quot;id&quot; in the header."
        in client.get(response["Location"]).content.decode()
    )


def test_a_file_that_is_not_csv_is_refused_by_the_form(client, marketer):
    # given
    client.force_login(marketer)

    # when
    response = client.post(
        reverse("import-create"),
        {"kind": "orders", "file": SimpleUploadedFile("orders.xlsx", b"PK\x03\x04")},
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "file": ["Choose a .csv file (in Excel: Save As, then CSV UTF-8)."]
    }
    assert Job.objects.count() == 0


def test_analysts_follow_imports_but_may_not_upload(client, analyst):
    # given
    job = create_job(kind="import_orders", label="june.csv")
    client.force_login(analyst)

    # when
    listing = client.get(reverse("import-list"))
    detail = client.get(reverse("import-detail", args=[job.pk]))
    form = client.get(reverse("import-create"))
    post = client.post(
        reverse("import-create"),
        {"kind": "orders", "file": SimpleUploadedFile("o.csv", ORDERS_CSV)},
    )

    # then
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert (form.status_code, post.status_code) == (403, 403)
    assert "Import a CSV file" not in listing.content.decode()
    assert list(Job.objects.values_list("pk", flat=True)) == [job.pk]


def test_visitors_who_are_not_logged_in_go_to_the_login_page(client):
    # when
    response = client.get(reverse("import-list"))

    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_list_pages_through_past_imports_newest_first(client, marketer):
    # given
    jobs = [create_job(kind="import_events", label=f"day-{n}.csv") for n in range(30)]
    create_job(kind="segment_refresh", label="not an import")
    client.force_login(marketer)

    # when
    first = client.get(reverse("import-list"))
    second = client.get(reverse("import-list"), {"page": 2})

    # then
    assert [job.pk for job in first.context["jobs"]] == [job.pk for job in jobs[::-1][:25]]
    assert [job.pk for job in second.context["jobs"]] == [job.pk for job in jobs[4::-1]]
    assert first.context["jobs"][0].kind_label == "Behaviour events"


def test_refused_rows_show_phone_and_email_only_to_users_allowed_to_see_them(
    client, marketer, admin_user, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)
    upload(
        client,
        "customers",
        "people.csv",
        b"customer_id,phone,email,gender\nC1,13800138000,li@example.com,unknown\n",
        django_capture_on_commit_callbacks,
    )
    job = Job.objects.get()

    # when
    for_marketer = download(client, job)
    client.force_login(admin_user)
    for_admin = download(client, job)

    # then
    reason = '"gender ""unknown"" is not one of female, male, other"'
    assert for_marketer == (
        f"line,reason,customer_id,phone,email,gender\r\n2,{reason},C1,,,unknown\r\n"
    )
    assert for_admin == (
        "line,reason,customer_id,phone,email,gender\r\n"
        f"2,{reason},C1,13800138000,li@example.com,unknown\r\n"
    )


def test_running_the_import_task_again_for_a_finished_job_changes_nothing(
    client, marketer, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)
    upload(client, "orders", "june.csv", ORDERS_CSV, django_capture_on_commit_callbacks)
    job = Job.objects.get()
    before = Job.objects.filter(pk=job.pk).values().get()
    orders = list(Order.objects.order_by("pk").values())

    # when: the broker delivers the task a second time
    import_csv_file_task(job.pk, "orders", f"imports/job-{job.pk}.csv")

    # then
    assert Job.objects.filter(pk=job.pk).values().get() == before
    assert list(Order.objects.order_by("pk").values()) == orders

"""Files uploaded on the import page: kept through Django's storage API only until their
import ends; the refused rows' report outlives them, and erasure reaches it (SPEC §8, §9)."""

import csv
import io
from datetime import date

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.core.models import Job
from crm.models import Customer, Identity, Order
from crm.services.erasure import erase_customer_pii
from crm.tasks import import_csv_file_task
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ORDERS_CSV = (
    b"order_id,customer_id,placed_at,amount\nO1,C1,2026-06-01,10\nO2,C1,2026-06-02,twelve\n"
)


@pytest.fixture
def memory_storage(settings, tmp_path):
    """Uploads in a storage that is not the local disk, as on a worker of another machine;
    MEDIA_ROOT points at an empty folder to show nothing is written there."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    return default_storage


@pytest.fixture
def disk_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return default_storage


def upload(client, kind: str, content: bytes, name: str = "upload.csv"):
    return client.post(
        reverse("import-create"),
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def download(client, job: Job) -> list[list[str]]:
    response = client.get(reverse("import-refused-rows", args=[job.pk]))
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def stored_uploads(storage) -> list[str]:
    if not storage.exists("imports"):
        return []
    return storage.listdir("imports")[1]


def test_an_upload_goes_through_the_storage_and_is_deleted_once_imported(
    client, marketer, memory_storage, tmp_path, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)

    # when: uploaded, the task not run yet
    with django_capture_on_commit_callbacks() as callbacks:
        upload(client, "orders", ORDERS_CSV, name="june.csv")
    job = Job.objects.get()

    # then: the worker's copy is in the storage, not on this machine's disk
    assert stored_uploads(memory_storage) == [f"job-{job.pk}.csv"]
    with memory_storage.open(f"imports/job-{job.pk}.csv", "rb") as stored:
        assert stored.read() == ORDERS_CSV
    assert not (tmp_path / "media").exists()

    # when: the worker runs the import
    for callback in callbacks:
        callback()

    # then
    job.refresh_from_db()
    assert (job.status, job.succeeded, job.failed) == ("succeeded", 1, 1)
    assert list(Order.objects.values_list("order_id", flat=True)) == ["O1"]
    assert stored_uploads(memory_storage) == []


def test_the_refused_rows_download_works_once_the_upload_is_deleted(
    client, marketer, disk_storage, tmp_path, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "orders", ORDERS_CSV)
    job = Job.objects.get()

    # when
    rows = download(client, job)

    # then
    assert list((tmp_path / "imports").iterdir()) == []
    assert rows == [
        ["line", "reason", "order_id", "customer_id", "placed_at", "amount"],
        ["3", 'amount "twelve" is not a decimal amount', "O2", "C1", "2026-06-02", "twelve"],
    ]


def test_a_refused_file_is_deleted_too(
    client, marketer, disk_storage, tmp_path, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "customers", b"id,name\nC1,Li\n")

    # then
    job = Job.objects.get()
    assert job.status == "failed"
    assert list((tmp_path / "imports").iterdir()) == []
    assert download(client, job) == [["line", "reason"]]


def test_the_task_delivered_again_after_the_import_changes_nothing(
    client, marketer, memory_storage, django_capture_on_commit_callbacks
):
    # given
    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "orders", ORDERS_CSV)
    job = Job.objects.get()
    before = Job.objects.filter(pk=job.pk).values().get()
    report = download(client, job)

    # when: the broker delivers the task a second time, its file long gone
    import_csv_file_task(job.pk, "orders", f"imports/job-{job.pk}.csv")

    # then
    assert Job.objects.filter(pk=job.pk).values().get() == before
    assert download(client, job) == report
    assert stored_uploads(memory_storage) == []


def test_a_task_whose_upload_is_missing_ends_its_job_failed(memory_storage, as_of):
    # given: a pending job whose file never reached the storage
    job = Job.objects.create(kind="import_orders", label="lost.csv")

    # when
    import_csv_file_task(job.pk, "orders", f"imports/job-{job.pk}.csv")

    # then
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.message.startswith("The file cannot be read")
    assert Order.objects.count() == 0


CUSTOMERS_CSV = (
    b"customer_id,name,phone,email,birth_date,gender,identities\n"
    b"C1,Alice Wang,13812345678,alice@example.com,1990-05-17,unknown,app:app-1\n"
    b"C2,Bob,13900000000,b@x.cn,1980-01-01,unknown,app:app-2\n"
    b"C3,Carol,13700000000,carol@x.cn,1985-01-01,female,app:app-1\n"
)


@pytest.fixture
def alice(db):
    customer = CustomerFactory(
        customer_id="C1",
        name="Alice Wang",
        phone="13812345678",
        email="alice@example.com",
        birth_date=date(1990, 5, 17),
    )
    Identity.objects.create(customer=customer, source="app", external_id="app-1")
    return customer


def test_erasure_blanks_the_customer_in_every_refused_rows_report(
    client, admin_user, support, alice, disk_storage, as_of, django_capture_on_commit_callbacks
):
    # given: refused rows naming Alice by id, by her identity and in another file
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "customers", CUSTOMERS_CSV, name="people.csv")
        upload(
            client,
            "orders",
            b"order_id,customer_id,placed_at,amount\nO9,app:app-1,2026-06-01,lots\n",
            name="orders.csv",
        )
    people, orders = Job.objects.order_by("pk")

    # when
    erase_customer_pii(customer=alice, requested_by=support, now=as_of)

    # then: Alice's personal cells are blank, her identity is gone from every cell and
    # reason; other people's rows keep their data
    gender = 'gender "unknown" is not one of female, male, other'
    assert download(client, people) == [
        ["line", "reason", "customer_id", "name", "phone", "email", "birth_date", "gender",
         "identities"],
        ["2", gender, "C1", "", "", "", "", "unknown", ""],
        ["3", gender, "C2", "Bob", "13900000000", "b@x.cn", "1980-01-01", "unknown",
         "app:app-2"],
        ["4", 'identity [erased] already belongs to customer "C1"', "C3", "Carol",
         "13700000000", "carol@x.cn", "1985-01-01", "female", ""],
    ]  # fmt: skip
    assert download(client, orders) == [
        ["line", "reason", "order_id", "customer_id", "placed_at", "amount"],
        ["2", 'amount "lots" is not a decimal amount', "O9", "", "2026-06-01", "lots"],
    ]
    stored = str(list(Job.objects.values_list("errors", "message")))
    for personal in ("Alice", "13812345678", "alice@example.com", "1990-05-17", "app-1"):
        assert personal not in stored
        assert personal not in str(download(client, people)) + str(download(client, orders))


def test_a_file_imported_after_an_erasure_keeps_no_personal_data_of_that_customer(
    client, admin_user, support, alice, disk_storage, as_of, django_capture_on_commit_callbacks
):
    # given
    erase_customer_pii(customer=alice, requested_by=support, now=as_of)
    client.force_login(admin_user)

    # when: an old export naming Alice is uploaded again
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "customers", CUSTOMERS_CSV, name="people.csv")

    # then
    rows = download(client, Job.objects.get())
    assert rows[1][:7] == ["2", rows[1][1], "C1", "", "", "", ""]
    assert rows[2][2:4] == ["C2", "Bob"]
    erased = Customer.objects.get(customer_id="C1")
    assert (erased.name, erased.phone, erased.email) == ("", "", "")

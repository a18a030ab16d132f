"""Every CSV the site writes neutralises cells a spreadsheet would run as a formula, header
cells and full-width forms included (SPEC §9; OWASP "CSV Injection")."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.core.models import Job
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

# Full-width forms, which spreadsheets in CJK locales read as = + - @.
EQUALS = "\N{FULLWIDTH EQUALS SIGN}"
PLUS = "\N{FULLWIDTH PLUS SIGN}"
MINUS = "\N{FULLWIDTH HYPHEN-MINUS}"
AT = "\N{FULLWIDTH COMMERCIAL AT}"


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        pytest.param("=1+1", "'=1+1", id="equals"),
        pytest.param("+1+1", "'+1+1", id="plus"),
        pytest.param("-1+1", "'-1+1", id="minus"),
        pytest.param("@SUM(A1)", "'@SUM(A1)", id="at"),
        pytest.param("\t=1", "'\t=1", id="tab"),
        pytest.param("\r=1", "'\r=1", id="carriage-return"),
        pytest.param(f"{EQUALS}1+1", f"'{EQUALS}1+1", id="full-width-equals"),
        pytest.param(f"{PLUS}1+1", f"'{PLUS}1+1", id="full-width-plus"),
        pytest.param(f"{MINUS}1+1", f"'{MINUS}1+1", id="full-width-minus"),
        pytest.param(f"{AT}SUM(A1)", f"'{AT}SUM(A1)", id="full-width-at"),
        pytest.param("-12.50", "-12.50", id="negative-number-is-data"),
        pytest.param("+8613800138000", "+8613800138000", id="phone-with-country-code"),
        pytest.param("Li = Wei", "Li = Wei", id="inside-is-fine"),
    ],
)
def test_the_customer_export_neutralises_formulas(client, marketer, stored, written):
    # given
    CustomerFactory(customer_id="C1", name=stored)
    client.force_login(marketer)

    # when
    rows = read_csv(client.get(reverse("customer-export")))

    # then
    assert rows[1][:2] == ["C1", written]


def test_the_refused_rows_download_neutralises_the_echoed_header_and_cells(
    client, marketer, django_capture_on_commit_callbacks
):
    # given: header cells are matched without their surrounding spaces, so a tab-led name
    # is a valid column and comes back in the download as uploaded
    client.force_login(marketer)
    content = (
        "customer_id,\tname,gender,city\n"
        f'C1,=HYPERLINK("http://evil.example"),unknown,{EQUALS}1+1\n'
        f"C2,{AT}cmd,unknown,{MINUS}2+3\n"
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("import-create"),
            {"kind": "customers", "file": SimpleUploadedFile("people.csv", content)},
        )
    job = Job.objects.get()

    # when
    rows = read_csv(client.get(reverse("import-refused-rows", args=[job.pk])))

    # then
    reason = 'gender "unknown" is not one of female, male, other'
    assert rows == [
        ["line", "reason", "customer_id", "'\tname", "gender", "city"],
        ["2", reason, "C1", '\'=HYPERLINK("http://evil.example")', "unknown", f"'{EQUALS}1+1"],
        ["3", reason, "C2", f"'{AT}cmd", "unknown", f"'{MINUS}2+3"],
    ]

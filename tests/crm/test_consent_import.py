"""The customers file's `consent` column and the bulk API's `consent` list (SPEC §1): the
off-site channels a customer agreed to, replacing what was recorded."""

import pytest

from crm.models import Channel, Customer
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def off_site_channels(db):
    """Two off-site channels and an on-site one (no consent is asked for a page)."""
    Channel.objects.create(code="app_push", name="App push", kind="off_site")
    Channel.objects.create(code="wechat_oa", name="WeChat official account", kind="off_site")
    Channel.objects.create(code="homepage", name="Home page", kind="on_site")


def consent_of(customer_id: str) -> dict:
    return Customer.objects.get(customer_id=customer_id).consent


def write_csv(tmp_path, text: str):
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_consent_column_replaces_what_was_recorded(tmp_path, as_of):
    # given: C2 had agreed to SMS (a code no channel has any more) and app push
    CustomerFactory(customer_id="C2", consent={"sms": True, "app_push": True})
    CustomerFactory(customer_id="C3", consent={"wechat_oa": True})
    path = write_csv(
        tmp_path,
        "customer_id,consent\nC1,app_push;wechat_oa\nC2, WeChat_OA ;;wechat_oa\nC3,\n",
    )

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then: codes are spelt as the channels spell them; a blank cell is consent to none
    assert (result.created, result.updated, result.refused) == (1, 2, 0)
    assert consent_of("C1") == {"app_push": True, "wechat_oa": True}
    assert consent_of("C2") == {"wechat_oa": True}
    assert consent_of("C3") == {}


def test_a_file_without_the_column_keeps_the_consent(tmp_path, as_of):
    # given
    CustomerFactory(customer_id="C1", city="Wuhan", consent={"app_push": True})
    path = write_csv(tmp_path, "customer_id,city\nC1,Shanghai\n")

    # when
    import_csv_file(kind="customers", path=path, now=as_of)

    # then
    customer = Customer.objects.get()
    assert (customer.city, customer.consent) == ("Shanghai", {"app_push": True})


def test_a_code_that_is_no_off_site_channel_refuses_the_row_naming_it(tmp_path, as_of):
    # given: a misspelt code, and an on-site channel's code
    path = write_csv(
        tmp_path,
        "customer_id,name,consent\nC1,Li,app_psuh\nC2,Wu,homepage;app_push\nC3,Ma,app_push\n",
    )

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then: the good row is stored, the others are refused and not half-written
    known = "(off-site channels: app_push, wechat_oa)"
    assert result.errors == [
        RowError(2, f'consent names "app_psuh", which is not an off-site channel {known}'),
        RowError(3, f'consent names "homepage", which is not an off-site channel {known}'),
    ]
    assert list(Customer.objects.values_list("customer_id", "consent")) == [
        ("C3", {"app_push": True})
    ]


def test_the_bulk_api_takes_consent_as_a_list_and_refuses_an_item_by_index(integration_api):
    # given
    CustomerFactory(customer_id="C2", consent={"app_push": True})
    items = [
        {"customer_id": "C1", "consent": ["wechat_oa", "APP_PUSH"]},
        {"customer_id": "C2", "consent": []},
        {"customer_id": "C3", "consent": ["sms"]},
        {"customer_id": "C4", "consent": "wechat_oa"},
    ]

    # when
    response = integration_api.post("/api/v1/customers/bulk/", {"items": items}, format="json")

    # then
    assert response.status_code == 200
    known = "(off-site channels: app_push, wechat_oa)"
    assert response.json() == {
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "refused": 1,
        "errors": [
            {
                "index": 2,
                "reason": f'consent names "sms", which is not an off-site channel {known}',
            }
        ],
    }
    assert consent_of("C1") == {"wechat_oa": True, "app_push": True}
    assert consent_of("C2") == {}
    assert consent_of("C4") == {"wechat_oa": True}
    assert not Customer.objects.filter(customer_id="C3").exists()


def test_a_segment_on_consent_counts_the_imported_consent(tmp_path, as_of, marketer_api):
    # given
    path = write_csv(
        tmp_path,
        "customer_id,consent\nC1,app_push\nC2,wechat_oa\nC3,app_push;wechat_oa\nC4,\n",
    )
    import_csv_file(kind="customers", path=path, now=as_of)
    either = {
        "any": [
            {"field": "consent", "op": "has", "value": "app_push"},
            {"field": "consent", "op": "has", "value": "wechat_oa"},
        ]
    }
    only_push = {"field": "consent", "op": "has", "value": " App_Push"}

    # when
    counts = [
        marketer_api.post("/api/v1/segments/preview/", {"rules": rules}, format="json").json()
        for rules in (either, only_push)
    ]

    # then: by hand, C1, C2 and C3 consented to one of them; C1 and C3 to app push
    assert [answer["count"] for answer in counts] == [3, 2]

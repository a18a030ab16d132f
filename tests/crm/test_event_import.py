"""Importing behaviour events from CSV (SPEC §1 Ingestion)."""

import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import BehaviourEvent, Customer
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
HEADER = "customer_id,kind,occurred_at,channel,sku,category\n"


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def write_csv(tmp_path, text: str, name: str = "events.csv"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def event_rows():
    return sorted(
        BehaviourEvent.objects.values_list(
            "customer__customer_id", "kind", "occurred_at", "channel", "sku", "category"
        )
    )


def test_stores_good_events_and_reports_bad_ones(tmp_path, as_of):
    # given
    CustomerFactory(customer_id="C1")
    path = write_csv(
        tmp_path,
        HEADER
        + """\
        C1,visit,2026-03-01 10:00,app,,
        C1,add_to_cart,2026-03-01T10:05:00+08:00,app,SKU1,nuts
        C1,wishlist,2026-03-01,app,,
        C1,visit,soon,app,,
        ,visit,2026-03-01,app,,
        C2,Login,2026-03-02,web,,
        """,
    )

    # when
    result = import_csv_file(kind="events", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(
            4,
            'kind "wishlist" is not one of visit, login, favorite, add_to_cart, store_visit, '
            "share, review, complaint, return_request",
        ),
        RowError(5, 'occurred_at "soon" is not an ISO 8601 date or datetime'),
        RowError(6, "customer_id missing"),
    ]
    assert (result.created, result.placeholders_created) == (3, 1)
    assert event_rows() == [
        ("C1", "add_to_cart", datetime(2026, 3, 1, 2, 5, tzinfo=UTC), "app", "SKU1", "nuts"),
        ("C1", "visit", datetime(2026, 3, 1, 2, 0, tzinfo=UTC), "app", "", ""),
        ("C2", "login", datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "web", "", ""),
    ]
    assert Customer.objects.get(customer_id="C2").is_placeholder is True


def test_reimporting_events_adds_nothing_and_repeats_in_a_file_are_one_event(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        HEADER
        + """\
        C1,visit,2026-03-01 10:00,app,,
        C1,visit,2026-03-01 10:00,app,,
        C1,favorite,2026-03-01 10:00,app,SKU1,
        """,
    )
    first = import_csv_file(kind="events", path=path, now=as_of)
    before = list(BehaviourEvent.objects.order_by("pk").values())

    # when
    again = import_csv_file(kind="events", path=path, now=as_of + timedelta(days=1))

    # then
    assert (first.created, first.unchanged) == (2, 1)
    assert (again.created, again.updated, again.unchanged, again.refused) == (0, 0, 3, 0)
    assert list(BehaviourEvent.objects.order_by("pk").values()) == before
    assert Customer.objects.count() == 1

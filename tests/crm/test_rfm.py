"""RFM quintile scores and named groups."""

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.models import Customer, RfmBreakpoints
from crm.services.metrics import recompute_customer_metrics
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def ladder(as_of) -> list[Customer]:
    """Ten customers: customer i (1..10) has i orders of 10*i, the last one i days ago.

    So customer 1 is the most recent, least frequent and lowest spender; with ten customers
    each quintile holds two of them.
    """
    customers = []
    for i in range(1, 11):
        customer = CustomerFactory(customer_id=f"R{i:02d}")
        for j in range(i):
            OrderFactory(
                customer=customer,
                placed_at=as_of - (i + 40 * j) * DAY,
                amount=Decimal(10 * i),
            )
        customers.append(customer)
    return customers


def scores() -> dict[str, tuple]:
    return {
        c.customer_id: (c.rfm_recency, c.rfm_frequency, c.rfm_monetary, c.rfm_group)
        for c in Customer.objects.all()
    }


def test_quintile_scores_and_groups(as_of):
    # given
    ladder(as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert scores() == {
        "R01": (5, 1, 1, "new_customers"),
        "R02": (5, 1, 1, "new_customers"),
        "R03": (4, 2, 2, "potential_loyalist"),
        "R04": (4, 2, 2, "potential_loyalist"),
        "R05": (3, 3, 3, "need_attention"),
        "R06": (3, 3, 3, "need_attention"),
        "R07": (2, 4, 4, "at_risk"),
        "R08": (2, 4, 4, "at_risk"),
        "R09": (1, 5, 5, "cant_lose"),
        "R10": (1, 5, 5, "cant_lose"),
    }


def test_full_run_stores_the_quintile_edges(as_of):
    # given
    ladder(as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    edges = RfmBreakpoints.objects.get()
    assert edges.frequency_edges == [2, 4, 6, 8]
    assert [Decimal(edge) for edge in edges.monetary_edges] == [
        Decimal(40),
        Decimal(160),
        Decimal(360),
        Decimal(640),
    ]
    assert edges.recency_edges == [2 * 86400.0, 4 * 86400.0, 6 * 86400.0, 8 * 86400.0]


def test_scoped_run_scores_against_the_stored_edges_without_rescaling_others(as_of):
    # given
    ladder(as_of)
    recompute_customer_metrics(as_of=as_of)
    before = scores()
    newcomer = CustomerFactory(customer_id="R11")
    for j in range(10):
        OrderFactory(customer=newcomer, placed_at=as_of - (1 + 20 * j) * DAY, amount=100)
    # when
    recompute_customer_metrics(as_of=as_of, customer_ids=[newcomer.pk])
    # then: 10 orders and 1,000 spent pass every edge; the others keep their scores
    after = scores()
    assert after.pop("R11") == (5, 5, 5, "champions")
    assert after == before
    assert RfmBreakpoints.objects.count() == 1


def test_customers_without_paid_orders_have_no_rfm(as_of):
    # given
    ladder(as_of)
    CustomerFactory(customer_id="R00")
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert scores()["R00"] == (None, None, None, "")

"""Helpers of the segment tests: evaluate rules through the public compiler, and hold the
customer table locked from another connection so that a segment query waits as a slow one
would run."""

import pytest

from crm.models import Customer
from segments.compiler import compile_rule_tree
from segments.rules import parse_rule_tree
from segments.services.preview import PREVIEW_APPLICATION_PREFIX
from tests.conftest import other_connection


@pytest.fixture
def matching(as_of):
    """customer_ids matching a SPEC §2 rule tree (as_of defaults to the fixed `as_of`)."""

    def evaluate(rules, *, at=None, as_of_is_now=False) -> set[str]:
        node = parse_rule_tree(rules)
        condition = compile_rule_tree(node, as_of=at or as_of, as_of_is_now=as_of_is_now)
        return set(Customer.objects.filter(condition).values_list("customer_id", flat=True))

    return evaluate


class CustomerTableLock:
    """Holds an ACCESS EXCLUSIVE lock on crm_customer, so every preview's count waits on
    it as a long count would run; `waiting_previews()` watches from another connection
    (pg_stat_activity is a snapshot per transaction, so the watcher commits each read)."""

    def __init__(self) -> None:
        self.holder = other_connection(autocommit=False)
        self.holder.execute(f"LOCK TABLE {Customer._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        self.watcher = other_connection(autocommit=True)

    def waiting_previews(self) -> int:
        return self.watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE %s AND wait_event_type = 'Lock'",
            [f"{PREVIEW_APPLICATION_PREFIX}:%"],
        ).fetchone()[0]

    def release(self) -> None:
        if not self.holder.closed:
            self.holder.rollback()
            self.holder.close()

    def close(self) -> None:
        self.release()
        self.watcher.close()


@pytest.fixture
def lock_customer_table():
    """Takes the lock when called (after the test's data is written), releases it after.

    The test's own transaction must not have written customers (it would hold a lock the
    holder waits for): tests that write some first use django_db(transaction=True)."""
    locks = []

    def take() -> CustomerTableLock:
        locks.append(CustomerTableLock())
        return locks[-1]

    yield take
    for lock in locks:
        lock.close()

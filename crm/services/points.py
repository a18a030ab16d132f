"""Points balances and their ledger (SPEC §4, points rewards).

The database writes a crm.PointsEntry for every change to crm_customer.points (trigger of
migration crm 0007), so no path can change a balance without a ledger row. The services
that change balances say why, and when, inside their transaction with points_change.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from crm.enums import PointsReason
from crm.exceptions import PointsRefused
from crm.models import Customer, PointsEntry

# crm_customer.points is a PostgreSQL integer.
MAX_BALANCE = 2_147_483_647
_SETTINGS = ("opscrm.points_reason", "opscrm.points_reference", "opscrm.points_at")


@contextmanager
def points_change(*, reason: PointsReason, reference: str = "", now: datetime) -> Iterator[None]:
    """Label the points changes made inside: their ledger rows get this reason, reference
    and time. Transaction-local (SET LOCAL), so it needs an atomic block, and it is undone
    on leaving, so later statements of the same transaction are not mislabelled."""
    if not connection.in_atomic_block:
        raise RuntimeError("points_change needs a transaction (transaction.atomic)")
    values = (str(reason), reference[:200], now.isoformat())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true), set_config(%s, %s, true), set_config(%s, %s, true)",
            [item for pair in zip(_SETTINGS, values, strict=True) for item in pair],
        )
    # On an error the settings are not reset here: the caller's atomic block rolls them back
    # with the rest (a failed statement's aborted transaction could not even reset them).
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, '', true), set_config(%s, '', true), set_config(%s, '', true)",
            list(_SETTINGS),
        )


@dataclass(frozen=True)
class Adjustment:
    entry: PointsEntry
    balance: int


def adjust_points(
    *, customer: Customer, change: int, note: str, actor, now: datetime
) -> Adjustment:
    """Add `change` points (negative to take some away) to the customer's balance, by staff,
    with the reason they give. Refused when the balance would go below 0; a change of 0
    changes nothing and is refused too."""
    if change == 0:
        raise PointsRefused("no_change", "A change of 0 points changes nothing.")
    note = note.strip()
    if not note:
        raise PointsRefused(
            "note_required", "Say why the points change (the note is kept in the ledger)."
        )
    reference = f"{getattr(actor, 'username', '') or 'staff'}: {note}"
    with (
        transaction.atomic(),
        points_change(reason=PointsReason.ADJUSTMENT, reference=reference, now=now),
    ):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE crm_customer SET points = points + %s, updated_at = %s "
                "WHERE id = %s AND points::bigint + %s BETWEEN 0 AND %s RETURNING points",
                [change, now, customer.pk, change, MAX_BALANCE],
            )
            row = cursor.fetchone()
        if row is None:
            balance = Customer.objects.values_list("points", flat=True).get(pk=customer.pk)
            if change > 0:
                raise PointsRefused(
                    "balance_too_large",
                    f"The balance is {balance} points; adding {change} would pass the "
                    f"largest balance, {MAX_BALANCE}.",
                )
            raise PointsRefused(
                "insufficient_points",
                f"The balance is {balance} points; taking {-change} would leave it below 0.",
            )
        entry = PointsEntry.objects.filter(customer=customer).order_by("-id").first()
    return Adjustment(entry=entry, balance=row[0])

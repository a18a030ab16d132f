"""Storing referrals from a staged batch (the referral-gift playbook, SPEC §4).

Both customers must exist (a referral names people the shop knows); a customer cannot
refer themself; a referee is referred once: the first referral stands, the same one again is
unchanged, another referrer is refused with the one on record. The last row of a batch for
a referee wins within the batch.
"""

from collections.abc import Callable
from datetime import datetime

from crm.models import Customer, Referral
from crm.services import identities
from crm.services.imports.layouts import Plan, keep_last
from crm.services.imports.results import BatchOutcome, RowError
from crm.services.imports.staging import PreparedBatch, Staging, model_field, stage


def prepare_referrals(prepared: PreparedBatch, *, plan: Plan, place: Callable[[int], str]) -> None:
    """Keep the last row of each referee and build the staging table."""
    rows = prepared.rows = keep_last(
        prepared.rows,
        prepared.rows.values["referee"],
        lambda referee: f'referee "{referee}"',
        place,
        prepared.errors,
    )
    customer_id = model_field(Customer, "customer_id")
    prepared.staging["import_stage_referrals"] = Staging.from_rows(
        [
            ("line", None),
            ("referrer", customer_id),
            ("referee", customer_id),
            ("referred_at", model_field(Referral, "referred_at")),
        ],
        zip(
            rows.positions,
            rows.values["referrer"],
            rows.values["referee"],
            rows.values["referred_at"],
            strict=True,
        ),
    )


def store_referrals(
    cursor, prepared: PreparedBatch, *, plan: Plan, now: datetime, outcome: BatchOutcome
) -> None:
    """Refuse what cannot be recorded, insert the new referrals, count the repeats."""
    stage(cursor, "import_stage_referrals", prepared.staging["import_stage_referrals"])
    cursor.execute(
        """
        SELECT s.line, s.referrer, s.referee, rr.id IS NULL, re.id IS NULL, rr.id = re.id,
               earlier.customer_id
        FROM import_stage_referrals s
        LEFT JOIN crm_customer rr ON rr.customer_id = s.referrer
        LEFT JOIN crm_customer re ON re.customer_id = s.referee
        LEFT JOIN crm_referral r ON r.referee_id = re.id
        LEFT JOIN crm_customer earlier ON earlier.id = r.referrer_id
        WHERE rr.id IS NULL OR re.id IS NULL OR rr.id = re.id
           OR (r.id IS NOT NULL AND r.referrer_id <> rr.id)
        ORDER BY s.line
        """
    )
    refused = cursor.fetchall()
    outcome.errors.extend(
        RowError(line, _refusal(referrer, referee, no_referrer, no_referee, oneself, earlier))
        for line, referrer, referee, no_referrer, no_referee, oneself, earlier in refused
    )
    cursor.execute(
        """
        INSERT INTO crm_referral (referrer_id, referee_id, referred_at, created_at, updated_at)
        SELECT rr.id, re.id, s.referred_at, %(now)s, %(now)s
        FROM import_stage_referrals s
        JOIN crm_customer rr ON rr.customer_id = s.referrer
        JOIN crm_customer re ON re.customer_id = s.referee
        WHERE rr.id <> re.id
        ON CONFLICT (referee_id) DO NOTHING
        RETURNING referrer_id, referee_id
        """,
        {"now": now},
    )
    created = cursor.fetchall()
    outcome.created += len(created)
    outcome.unchanged += len(prepared.rows) - len(refused) - len(created)
    cursor.execute("DROP TABLE import_stage_referrals")


def _refusal(referrer, referee, no_referrer, no_referee, oneself, earlier) -> str:
    shorten = identities.shorten
    if no_referrer:
        return f'referrer "{shorten(referrer)}" is not a known customer'
    if no_referee:
        return f'referee "{shorten(referee)}" is not a known customer'
    if oneself:
        return f'referrer "{shorten(referrer)}" cannot refer themself'
    return f'referee "{shorten(referee)}" was already referred by "{shorten(earlier)}"'

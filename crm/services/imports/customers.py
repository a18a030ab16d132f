"""Storing customers from a staged batch: profile columns, tags, consent and identity links.

Only the columns in the header are written. `tags` lists the customer's tags: tags not
listed are removed from the customer. `consent` lists the off-site channels the customer
agreed to (SPEC §1), replacing what was recorded; a code that is not an off-site channel's
refuses the row, since a misspelt code would otherwise silently stop every message.
`identities` only ever adds links, and a link to an identity that a placeholder owns
merges the placeholder into the customer
(crm.services.identities). An identity is never taken from another real customer: two rows
of a batch claiming one identity keep it with the first, and a row claiming an identity a
different stored customer owns is refused. A customer whose personal data was erased keeps
name, phone, e-mail and birth date blank and gets no identity back (crm.services.erasure).
"""

from collections.abc import Callable
from datetime import datetime

from django.db.models import TextField

from crm.enums import ChannelKind
from crm.models import Channel, Customer, Tag
from crm.services import identities
from crm.services.erasure import ERASED_FIELDS
from crm.services.imports.layouts import Plan, Rows, keep_last
from crm.services.imports.results import BatchOutcome, RowError
from crm.services.imports.staging import (
    REFERENCE_COLUMNS,
    PreparedBatch,
    Staging,
    differs,
    model_field,
    stage,
    upsert,
)

CUSTOMER_PROFILE_COLUMNS = (
    "name",
    "phone",
    "email",
    "gender",
    "birth_date",
    "city",
    "region",
    "occupation",
    "is_member",
    "member_tier",
    "registered_at",
)
_CUSTOMER_STAGES = (
    "import_stage_customers",
    "import_stage_customer_tags",
    "import_stage_customer_consent",
    "import_stage_customer_identities",
)


def prepare_customers(prepared: PreparedBatch, *, plan: Plan, place: Callable[[int], str]) -> None:
    """Keep the last row of each customer_id, refuse identities two rows claim, and build
    the staging tables of profiles, tags and identity links."""
    rows = keep_last(
        prepared.rows,
        prepared.rows.values["customer_id"],
        lambda key: f'customer_id "{key}"',
        place,
        prepared.errors,
    )
    rows = prepared.rows = _refuse_identities_claimed_twice(
        rows, place=place, errors=prepared.errors
    )
    customer_id_field = model_field(Customer, "customer_id")
    values = rows.values
    prepared.staging["import_stage_customers"] = Staging.from_rows(
        [
            ("customer_id", customer_id_field),
            *((name, model_field(Customer, name)) for name in CUSTOMER_PROFILE_COLUMNS),
        ],
        zip(
            values["customer_id"],
            *(values[name] for name in CUSTOMER_PROFILE_COLUMNS),
            strict=True,
        ),
    )
    prepared.staging["import_stage_customer_tags"] = Staging.from_rows(
        [("customer_id", customer_id_field), ("tag", model_field(Tag, "name"))],
        (
            (customer_id, tag)
            for customer_id, tags in zip(values["customer_id"], values["tags"], strict=True)
            for tag in tags
        ),
    )
    # One `;`-separated text of codes per customer (blank: consent to none).
    prepared.staging["import_stage_customer_consent"] = Staging.from_rows(
        [("line", None), ("customer_id", customer_id_field), ("channels", TextField())],
        zip(
            rows.positions,
            values["customer_id"],
            (";".join(codes) for codes in values["consent"]),
            strict=True,
        ),
    )
    prepared.staging["import_stage_customer_identities"] = Staging.from_rows(
        [("line", None), ("customer_id", customer_id_field), *REFERENCE_COLUMNS[1:]],
        (
            (position, customer_id, source, external_id)
            for position, customer_id, links in zip(
                rows.positions, values["customer_id"], values["identities"], strict=True
            )
            for source, external_id in links
        ),
    )


def store_customers(
    cursor, prepared: PreparedBatch, *, plan: Plan, now: datetime, outcome: BatchOutcome
) -> None:
    """Upsert the staged customers, then replace their tags and link their identities."""
    for table in _CUSTOMER_STAGES:
        stage(cursor, table, prepared.staging[table])
    staged = len(prepared.rows)
    if "identities" in plan.present:
        staged -= _refuse_identities_of_others(cursor, outcome=outcome)
    if "consent" in plan.present:
        staged -= _refuse_unknown_consent(cursor, outcome=outcome)

    written = [name for name in CUSTOMER_PROFILE_COLUMNS if name in plan.present]
    new_values = {
        # An erased customer's personal fields stay blank whatever the file says.
        name: (
            f"CASE WHEN crm_customer.pii_erased_at IS NULL THEN EXCLUDED.{name} "
            f"ELSE crm_customer.{name} END"
            if name in ERASED_FIELDS
            else f"EXCLUDED.{name}"
        )
        for name in [*written, "is_placeholder"]
    }
    default_columns, params = identities.customer_insert_defaults(
        exclude={"customer_id", "is_placeholder", *CUSTOMER_PROFILE_COLUMNS}
    )
    params["now"] = now
    changes = upsert(
        cursor,
        sql=f"""
        INSERT INTO crm_customer (customer_id, {", ".join(CUSTOMER_PROFILE_COLUMNS)},
                                  is_placeholder, created_at, updated_at,
                                  {", ".join(default_columns)})
        SELECT s.customer_id, {", ".join(f"s.{name}" for name in CUSTOMER_PROFILE_COLUMNS)},
               FALSE, %(now)s, %(now)s,
               {", ".join(f"%(default_{column})s" for column in default_columns)}
        FROM import_stage_customers s
        ON CONFLICT (customer_id) DO UPDATE
            SET {", ".join(f"{name} = {value}" for name, value in new_values.items())},
                updated_at = EXCLUDED.updated_at
            WHERE {differs("crm_customer", new_values)}
        RETURNING crm_customer.id, crm_customer.id, (crm_customer.xmax = 0), NULL
        """,
        params=params,
    )
    created, changed = changes.created, set(changes.written)
    if "tags" in plan.present:
        changed |= _replace_tags(cursor, now=now)
    if "consent" in plan.present:
        changed |= _replace_consent(cursor, now=now)
    if "identities" in plan.present:
        changed |= identities.merge_linked_placeholders(
            cursor=cursor, identity_table="import_stage_customer_identities", now=now
        )
        changed |= identities.link_identities(
            cursor=cursor, identity_table="import_stage_customer_identities", now=now
        )
    outcome.created += len(created)
    outcome.updated += len(changed - created)
    outcome.unchanged += staged - len(changed)
    outcome.touched_customer_ids |= changed
    for table in _CUSTOMER_STAGES:
        cursor.execute(f"DROP TABLE {table}")


def _refuse_identities_claimed_twice(rows: Rows, *, place, errors: list[RowError]) -> Rows:
    """An identity two rows of the batch link to different customers stays with the first;
    the later row is refused."""
    claimed: dict[tuple[str, str], tuple[str, int]] = {}
    refused = []
    for index, (position, customer_id, links) in enumerate(
        zip(rows.positions, rows.values["customer_id"], rows.values["identities"], strict=True)
    ):
        for link in links:
            owner, owner_position = claimed.get(link, (customer_id, position))
            if owner != customer_id:
                errors.append(
                    RowError(
                        position,
                        f'identity {link[0]}:{link[1]} is already linked to customer "{owner}" '
                        f"{place(owner_position)}",
                    )
                )
                refused.append(index)
                break
        else:
            for link in links:
                claimed.setdefault(link, (customer_id, position))
    if not refused:
        return rows
    return rows.select([i for i in range(len(rows)) if i not in set(refused)])


def _refuse_unknown_consent(cursor, *, outcome: BatchOutcome) -> int:
    """Refuse the staged rows whose consent names a code no off-site channel has (codes
    match in any case); returns how many customers were refused (and unstaged)."""
    cursor.execute(
        """
        SELECT s.line, s.customer_id, code.code
        FROM import_stage_customer_consent s
        CROSS JOIN LATERAL unnest(string_to_array(NULLIF(s.channels, ''), ';'))
            WITH ORDINALITY AS code(code, position)
        WHERE NOT EXISTS (
            SELECT 1 FROM crm_channel ch
            WHERE ch.kind = %(off_site)s AND lower(ch.code) = lower(code.code)
        )
        ORDER BY s.line, code.position
        """,
        {"off_site": ChannelKind.OFF_SITE},
    )
    first_by_line = {}
    for line, customer_id, code in cursor.fetchall():
        first_by_line.setdefault(line, (customer_id, code))
    if not first_by_line:
        return 0
    known = ", ".join(
        Channel.objects.filter(kind=ChannelKind.OFF_SITE)
        .order_by("code")
        .values_list("code", flat=True)
    )
    for line, (_, code) in first_by_line.items():
        outcome.errors.append(
            RowError(
                line,
                f'consent names "{identities.shorten(code)}", which is not an off-site channel '
                f"(off-site channels: {known or 'none is set up'})",
            )
        )
    refused = sorted({customer_id for customer_id, _ in first_by_line.values()})
    marks = ", ".join(["%s"] * len(refused))
    for table in _CUSTOMER_STAGES:
        cursor.execute(f"DELETE FROM {table} WHERE customer_id IN ({marks})", refused)
    return len(refused)


def _replace_consent(cursor, *, now: datetime) -> set[int]:
    """Make each staged customer's consent exactly the staged channels; returns the
    customers changed."""
    cursor.execute(
        """
        UPDATE crm_customer c
        SET consent = wanted.consent, updated_at = %(now)s
        FROM (
            SELECT s.customer_id,
                   COALESCE(
                       -- each code as its channel spells it
                       (SELECT jsonb_object_agg(ch.code, TRUE)
                        FROM crm_channel ch
                        WHERE lower(ch.code) IN (
                            SELECT lower(code)
                            FROM unnest(string_to_array(NULLIF(s.channels, ''), ';')) AS code
                        )),
                       '{}'::jsonb
                   ) AS consent
            FROM import_stage_customer_consent s
        ) wanted
        WHERE c.customer_id = wanted.customer_id AND c.consent IS DISTINCT FROM wanted.consent
        RETURNING c.id
        """,
        {"now": now},
    )
    return {row[0] for row in cursor.fetchall()}


def _refuse_identities_of_others(cursor, *, outcome: BatchOutcome) -> int:
    """Refuse the staged rows that link an identity a different real customer owns;
    returns how many customers were refused (and removed from the staging tables)."""
    conflicts = identities.find_identity_conflicts(
        cursor=cursor,
        identity_table="import_stage_customer_identities",
        customer_table="import_stage_customers",
    )
    first_by_line = {}
    for conflict in conflicts:
        first_by_line.setdefault(conflict.line, conflict)
    for conflict in first_by_line.values():
        outcome.errors.append(
            RowError(
                conflict.line,
                f"identity {conflict.source}:{conflict.external_id} already belongs to "
                f'customer "{conflict.owner_customer_id}"',
            )
        )
    if not first_by_line:
        return 0
    refused = sorted({conflict.customer_id for conflict in first_by_line.values()})
    marks = ", ".join(["%s"] * len(refused))
    for table in _CUSTOMER_STAGES:
        cursor.execute(f"DELETE FROM {table} WHERE customer_id IN ({marks})", refused)
    return len(refused)


def _replace_tags(cursor, *, now: datetime) -> set[int]:
    """Make each staged customer's tags exactly the staged ones; returns customers changed."""
    cursor.execute(
        """
        INSERT INTO crm_tag (name, created_at, updated_at)
        SELECT DISTINCT s.tag, %(now)s, %(now)s FROM import_stage_customer_tags s
        ON CONFLICT (name) DO NOTHING
        """,
        {"now": now},
    )
    cursor.execute(
        """
        DELETE FROM crm_customer_tags
        WHERE customer_id IN (
            SELECT c.id FROM import_stage_customers s
            JOIN crm_customer c ON c.customer_id = s.customer_id
        )
        AND NOT EXISTS (
            SELECT 1 FROM import_stage_customer_tags s
            JOIN crm_customer c ON c.customer_id = s.customer_id
            JOIN crm_tag t ON t.name = s.tag
            WHERE c.id = crm_customer_tags.customer_id AND t.id = crm_customer_tags.tag_id
        )
        RETURNING customer_id
        """
    )
    changed = {row[0] for row in cursor.fetchall()}
    cursor.execute(
        """
        INSERT INTO crm_customer_tags (customer_id, tag_id)
        SELECT c.id, t.id
        FROM import_stage_customer_tags s
        JOIN crm_customer c ON c.customer_id = s.customer_id
        JOIN crm_tag t ON t.name = s.tag
        ON CONFLICT (customer_id, tag_id) DO NOTHING
        RETURNING customer_id
        """
    )
    return changed | {row[0] for row in cursor.fetchall()}

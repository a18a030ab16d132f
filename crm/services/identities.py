"""Identity resolution: one person seen in several systems is one Customer (SPEC §1).

A customer reference in an order, an event or an API item is either a plain customer id
(`C000123`) or an identity reference `source:external_id` (`mini_program:oX81`), looked up
in Identity. A reference that names nobody yet creates a placeholder customer
(is_placeholder=True; for an identity reference also its Identity), so an order is never
refused for arriving before its customer. When a customer import later links that identity
to a real customer, the placeholder is merged into the real customer, so nobody is counted
twice.

Everything here is set-based over a staging table the importer filled (crm.services.
imports): a few statements per batch, never a query per row.
"""

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction

from crm.models import Customer, Identity

CUSTOMER_ID_MAX_LENGTH = Customer._meta.get_field("customer_id").max_length
SOURCE_MAX_LENGTH = Identity._meta.get_field("source").max_length
EXTERNAL_ID_MAX_LENGTH = Identity._meta.get_field("external_id").max_length

# A source is a slug (Identity.source is a SlugField); the external id is anything
# non-empty after the first colon, so `partner:a:b` is source `partner`, id `a:b`.
_SOURCE = re.compile(r"^[-a-zA-Z0-9_]+$")

# Joins giving each staged row (alias `s`, columns customer_key, source, external_id) its
# customer's primary key as REFERENCED_CUSTOMER_PK: an identity reference resolves through
# Identity, a plain id through Customer.customer_id.
REFERENCE_JOINS = """
    LEFT JOIN crm_identity ref_identity
           ON s.source <> '' AND ref_identity.source = s.source
          AND ref_identity.external_id = s.external_id
    LEFT JOIN crm_customer ref_customer
           ON s.source = '' AND ref_customer.customer_id = s.customer_key
"""
REFERENCED_CUSTOMER_PK = "COALESCE(ref_identity.customer_id, ref_customer.id)"


class CustomerReference(NamedTuple):
    """A parsed customer reference (a tuple: importers build millions of them).

    `customer_key` is the customer_id a plain reference names, or, for an identity
    reference, the customer_id its placeholder gets if nobody owns the identity yet.
    `source` is "" for a plain customer id.
    """

    customer_key: str
    source: str
    external_id: str


def parse_customer_reference(text: str, *, column: str = "customer_id") -> CustomerReference:
    """Parse a plain customer id or a `source:external_id` reference.

    Raises ValueError with a reason naming the column and the value.
    """
    if ":" not in text:
        if len(text) > CUSTOMER_ID_MAX_LENGTH:
            raise ValueError(f"{column} is longer than {CUSTOMER_ID_MAX_LENGTH} characters")
        return CustomerReference(customer_key=text, source="", external_id="")
    try:
        source, external_id = parse_identity(text)
    except ValueError:
        raise ValueError(
            f'{column} "{shorten(text)}" is not a customer id or a source:external_id reference'
        ) from None
    return CustomerReference(
        customer_key=placeholder_customer_id(source=source, external_id=external_id),
        source=source,
        external_id=external_id,
    )


def parse_identity(text: str) -> tuple[str, str]:
    """Split `source:external_id`; raises ValueError when it is not one."""
    source, _, external_id = text.partition(":")
    source, external_id = source.strip(), external_id.strip()
    if (
        not external_id
        or not _SOURCE.match(source)
        or len(source) > SOURCE_MAX_LENGTH
        or len(external_id) > EXTERNAL_ID_MAX_LENGTH
    ):
        raise ValueError(f'identity "{shorten(text)}" is not a source:external_id reference')
    return source, external_id


def placeholder_customer_id(*, source: str, external_id: str) -> str:
    """The customer_id of the placeholder created for an unknown identity.

    The reference itself (`mini_program:oX81`), which no plain customer id can equal since
    plain ids never contain a colon; references longer than customer_id allows keep their
    start and end with a digest, so the placeholder stays recognisable and unique.
    """
    reference = f"{source}:{external_id}"
    if len(reference) <= CUSTOMER_ID_MAX_LENGTH:
        return reference
    digest = hashlib.sha256(reference.encode()).hexdigest()[:16]
    return f"{reference[: CUSTOMER_ID_MAX_LENGTH - len(digest) - 1]}~{digest}"


def shorten(text: str, limit: int = 40) -> str:
    """A value quoted in an error message, cut so one bad cell cannot flood the report.

    A NUL is written as \\x00: reasons are stored as text, which cannot hold one.
    """
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def customer_insert_defaults(*, exclude: Iterable[str]) -> tuple[list[str], dict]:
    """Columns and bound values of every Customer column an INSERT does not set itself.

    Django keeps field defaults in Python, not in the table, so a raw INSERT must name
    them; reading them from the model keeps this right when a field is added.
    """
    excluded = set(exclude) | {"id", "created_at", "updated_at"}
    columns, params = [], {}
    for field in Customer._meta.concrete_fields:
        if field.column in excluded:
            continue
        columns.append(field.column)
        params[f"default_{field.column}"] = field.get_db_prep_save(field.get_default(), connection)
    return columns, params


def create_referenced_customers(*, cursor, staging_table: str, now: datetime) -> list[int]:
    """Create the customers the staged references name but nobody is yet.

    Requires a staging table with columns customer_key, source, external_id. Each plain
    id, and each identity reference no Identity matches, gets a placeholder customer; each
    new identity reference also gets its Identity. Returns the new customers' primary keys.
    Safe to repeat and against concurrent imports (ON CONFLICT DO NOTHING).
    """
    columns, params = customer_insert_defaults(exclude={"customer_id", "is_placeholder"})
    params["now"] = now
    values = ", ".join(f"%(default_{column})s" for column in columns)
    cursor.execute(
        f"""
        INSERT INTO crm_customer
            (customer_id, is_placeholder, created_at, updated_at, {", ".join(columns)})
        SELECT r.customer_key, TRUE, %(now)s, %(now)s, {values}
        FROM (
            SELECT DISTINCT s.customer_key FROM {staging_table} s
            WHERE s.source = '' OR NOT EXISTS (
                SELECT 1 FROM crm_identity i
                WHERE i.source = s.source AND i.external_id = s.external_id
            )
        ) r
        -- Known customers are skipped by a join before the insert: the customers of 1M
        -- orders (250k, all known) took 2.5-3.7 s instead of 4.5-5.0 s with ON CONFLICT
        -- alone. ON CONFLICT still covers a concurrent import creating the same customer.
        WHERE NOT EXISTS (SELECT 1 FROM crm_customer c WHERE c.customer_id = r.customer_key)
        ON CONFLICT (customer_id) DO NOTHING
        RETURNING id
        """,
        params,
    )
    created = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        f"""
        INSERT INTO crm_identity (customer_id, source, external_id, created_at, updated_at)
        SELECT c.id, r.source, r.external_id, %(now)s, %(now)s
        FROM (
            SELECT DISTINCT s.customer_key, s.source, s.external_id FROM {staging_table} s
            WHERE s.source <> ''
        ) r
        JOIN crm_customer c ON c.customer_id = r.customer_key
        ON CONFLICT (source, external_id) DO NOTHING
        """,
        params,
    )
    return created


@dataclass(frozen=True)
class IdentityConflict:
    line: int
    customer_id: str
    source: str
    external_id: str
    owner_customer_id: str


def find_identity_conflicts(
    *, cursor, identity_table: str, customer_table: str
) -> list[IdentityConflict]:
    """Staged identity links that would take an identity from another real customer.

    `identity_table` holds (line, customer_id, source, external_id) rows, `customer_table`
    the customer_ids imported in the same batch. An identity owned by a placeholder may be
    taken (the placeholder is merged, merge_linked_placeholders), unless that placeholder
    is itself being imported in the batch, which makes it a real customer.
    """
    cursor.execute(
        f"""
        SELECT s.line, s.customer_id, s.source, s.external_id, owner.customer_id
        FROM {identity_table} s
        JOIN crm_identity i ON i.source = s.source AND i.external_id = s.external_id
        JOIN crm_customer owner ON owner.id = i.customer_id
        WHERE owner.customer_id <> s.customer_id
          AND (NOT owner.is_placeholder
               OR owner.customer_id IN (SELECT customer_id FROM {customer_table}))
        ORDER BY s.line
        """
    )
    return [IdentityConflict(*row) for row in cursor.fetchall()]


def merge_linked_placeholders(*, cursor, identity_table: str, now: datetime) -> set[int]:
    """Merge each placeholder owning a staged identity into the customer linking it.

    Run after find_identity_conflicts removed the links that take identities from real
    customers. A placeholder linked by several customers in one batch goes to the one on
    the earliest line. A customer whose personal data was erased takes no identity back, so
    it absorbs no placeholder either. Returns the surviving customers' primary keys.
    """
    cursor.execute(
        f"""
        SELECT i.customer_id, c.id, s.line
        FROM {identity_table} s
        JOIN crm_identity i ON i.source = s.source AND i.external_id = s.external_id
        JOIN crm_customer c ON c.customer_id = s.customer_id
        WHERE i.customer_id <> c.id AND c.pii_erased_at IS NULL
        ORDER BY s.line DESC
        """
    )
    # Descending lines: the dict keeps the earliest survivor of each placeholder.
    merges = {placeholder: survivor for placeholder, survivor, _line in cursor.fetchall()}
    if merges:
        merge_placeholder_customers(merges=merges, now=now)
    return set(merges.values())


def link_identities(*, cursor, identity_table: str, now: datetime) -> set[int]:
    """Give each staged identity to the customer the row names; returns customers changed.

    Run after merge_linked_placeholders, so an identity still owned by someone else was
    owned by a placeholder merged into another customer of this batch (a placeholder known
    by two identities that two customers claim); the row's customer takes it. Customers
    whose personal data was erased get no identity back.
    """
    cursor.execute(
        f"""
        INSERT INTO crm_identity (customer_id, source, external_id, created_at, updated_at)
        SELECT c.id, s.source, s.external_id, %(now)s, %(now)s
        FROM {identity_table} s
        JOIN crm_customer c ON c.customer_id = s.customer_id
        WHERE c.pii_erased_at IS NULL
        ON CONFLICT (source, external_id) DO UPDATE
            SET customer_id = EXCLUDED.customer_id, updated_at = EXCLUDED.updated_at
            WHERE crm_identity.customer_id <> EXCLUDED.customer_id
        RETURNING customer_id
        """,
        {"now": now},
    )
    return {row[0] for row in cursor.fetchall()}


@transaction.atomic
def merge_placeholder_customers(*, merges: Mapping[int, int], now: datetime) -> None:
    """Merge placeholder customers into real ones: {placeholder pk: survivor pk}.

    Moves the placeholders' orders, behaviour events, identities and tags to their
    survivors, then deletes the placeholders (their stage history goes with them). An
    event the survivor already has (same natural key) is dropped rather than duplicated.
    Set-based: one statement per related table whatever the number of merges. The caller
    recomputes the survivors' metrics.
    """
    if not merges:
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS import_merge")
        cursor.execute("CREATE TEMP TABLE import_merge (placeholder_id bigint, survivor_id bigint)")
        cursor.executemany(
            "INSERT INTO import_merge (placeholder_id, survivor_id) VALUES (%s, %s)",
            list(merges.items()),
        )
        cursor.execute(
            """
            UPDATE crm_order SET customer_id = m.survivor_id, updated_at = %s
            FROM import_merge m WHERE crm_order.customer_id = m.placeholder_id
            """,
            [now],
        )
        # An event is dropped when its survivor already has it, or when another
        # placeholder of the same survivor has it with a smaller id (the one that stays).
        cursor.execute(
            """
            DELETE FROM crm_behaviourevent WHERE id IN (
                SELECT e.id
                FROM crm_behaviourevent e
                JOIN import_merge m ON m.placeholder_id = e.customer_id
                JOIN crm_behaviourevent twin
                  ON twin.kind = e.kind AND twin.occurred_at = e.occurred_at
                 AND twin.channel = e.channel AND twin.sku = e.sku
                LEFT JOIN import_merge twin_merge ON twin_merge.placeholder_id = twin.customer_id
                WHERE twin.customer_id = m.survivor_id
                   OR (twin_merge.survivor_id = m.survivor_id AND twin.id < e.id)
            )
            """
        )
        cursor.execute(
            """
            UPDATE crm_behaviourevent SET customer_id = m.survivor_id, updated_at = %s
            FROM import_merge m WHERE crm_behaviourevent.customer_id = m.placeholder_id
            """,
            [now],
        )
        cursor.execute(
            """
            UPDATE crm_identity SET customer_id = m.survivor_id, updated_at = %s
            FROM import_merge m WHERE crm_identity.customer_id = m.placeholder_id
            """,
            [now],
        )
        cursor.execute(
            """
            INSERT INTO crm_customer_tags (customer_id, tag_id)
            SELECT m.survivor_id, t.tag_id
            FROM crm_customer_tags t JOIN import_merge m ON m.placeholder_id = t.customer_id
            ON CONFLICT (customer_id, tag_id) DO NOTHING
            """
        )
        cursor.execute("DROP TABLE import_merge")
    # The ORM delete also removes what other apps hold for the placeholder (its
    # cascades are declared on their models), which raw SQL here could not know.
    Customer.objects.filter(pk__in=list(merges), is_placeholder=True).delete()

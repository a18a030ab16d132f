"""THE claim engine: the API, the scheduled push and the admin reissue all grant here.

The decision itself runs inside PostgreSQL, in the function campaigns_claim_coupon of
campaigns/sql/claim_coupon.sql (decision order, locks and constraints are described
there): one statement per claim. This module composes that statement: it adds the audience
test (the campaign's segment, compiled by segments.compiler for `now` into an EXISTS), and
turns the function's answer into a ClaimResult or a refusal.

Measured with bench/bench_claims.py on the 2-core machine (1,000,000-customer audience):
the previous Django-side engine sent 21 statements per claim and reached 32 claims/s at 16
clients; see the closing note of issue 4 for this version's figures.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone

from campaigns.exceptions import (
    ClaimRefused,
    IdempotencyKeyReused,
    UnknownClaimTargetError,
)
from campaigns.models import Campaign, Coupon, CouponTemplate, Grant, HarassmentSettings
from campaigns.operator_time import operator_zone_name
from crm.core.replica import reads_primary
from crm.models import Customer
from segments.selectors import Audience, segment_audience, segments_version

# The coupon columns of the function's answer (see campaigns/sql/claim_coupon.sql).
_COUPON_FIELDS = (
    "code",
    "template_id",
    "status",
    "self_claimed",
    "issued_at",
    "valid_from",
    "valid_until",
    "face_value",
    "threshold",
    "created_at",
    "updated_at",
    "partner_code",
)


@dataclass(frozen=True)
class ClaimResult:
    grant: Grant
    coupons: list[Coupon]
    created: bool


@dataclass(frozen=True)
class _CampaignAudience:
    audience: Audience
    segments_version: datetime | None
    # The audience test compiled once, when its SQL does not depend on the moment (most
    # rules read stored metrics): (sql, parameters without the customer_id, which comes
    # last). Compiling through the ORM on every claim cost 0.3 of the 1.5 ms of Python CPU
    # per request (2,000-claim profile on the test client).
    fixed_test: tuple[str, tuple] | None


# Two unrelated instants: an audience test compiled the same for both does not depend on
# the moment it is evaluated at.
_PROBE_INSTANTS = (
    datetime(2001, 2, 3, 4, 5, 6, 7000, tzinfo=UTC),
    datetime(2013, 8, 19, 17, 31, 47, 500000, tzinfo=UTC),
)
_PROBE_CUSTOMER = "\x00probe-customer"


# Campaign code -> its parsed audience, per process. The database function checks the
# segment and segments_version it was made for on every claim and answers "stale" when
# either changed, so a kept entry can never decide a claim with outdated rules.
_audiences: dict[str, _CampaignAudience] = {}
_audiences_lock = threading.Lock()
_MAX_KEPT_AUDIENCES = 1000


def current_harassment_settings() -> HarassmentSettings:
    """The single settings row, created with the defaults on first use."""
    harassment_settings, _ = HarassmentSettings.objects.get_or_create(pk=1)
    return harassment_settings


@reads_primary
def claim_coupon(
    *,
    campaign: str,
    customer: str,
    channel: str,
    trigger: str,
    idempotency_key: str,
    now: datetime,
) -> ClaimResult:
    """Grant one claim of campaign `campaign` (code) to customer `customer` (customer_id)
    through channel `channel` (code), or raise ClaimRefused(reason, detail).

    Atomic: a grant writes its counters, coupons and ledger rows together or not at all.
    Holds under concurrency: per-customer limits, stock and budget are decided under row
    locks taken in one fixed order, and CHECK constraints back them. Idempotent: a repeated
    `idempotency_key` returns the first grant's coupons (created=False); the same key with
    another customer, channel or trigger raises IdempotencyKeyReused. Refusals are recorded
    in the ledger (CouponEvent kind=refusal) for the refusals-by-reason report; their
    details give moments in the operator's time zone. A claim must come through one of the
    campaign's channels on its trigger (channel_not_in_campaign, trigger_not_in_campaign).
    Raises UnknownClaimTargetError for a code that names nothing.
    """
    fingerprint = _fingerprint(campaign, customer, channel, trigger)
    today = timezone.localdate(now, timezone.get_default_timezone())
    for _ in range(3):
        target = _campaign_audience(campaign)
        if target.fixed_test is not None:
            audience_sql, audience_params = target.fixed_test[0], [*target.fixed_test[1], customer]
        else:
            audience_sql, audience_params = _audience_test(target.audience, customer, now)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM campaigns_claim_coupon(%s, %s, %s, %s, %s, %s, %s, %s, "
                f"EXISTS({audience_sql}), %s, %s, %s, %s, %s)",
                [
                    campaign,
                    customer,
                    channel,
                    str(trigger),
                    idempotency_key,
                    fingerprint,
                    now,
                    today,
                    *audience_params,
                    target.audience.segment_id,
                    target.segments_version,
                    HarassmentSettings._meta.get_field("max_unused_coupons").default,
                    HarassmentSettings._meta.get_field("min_hours_between_same_template").default,
                    operator_zone_name(),
                ],
            )
            columns = [column.name for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        outcome = rows[0]["outcome"]
        if outcome != "stale":
            return _result(rows, trigger=str(trigger))
        _forget_audience(campaign)
    raise RuntimeError(f"the audience of campaign {campaign} kept changing during the claim")


def _campaign_audience(code: str) -> _CampaignAudience:
    if kept := _audiences.get(code):
        return kept
    # The version is read first: a segment edited meanwhile makes the entry stale at once.
    version = segments_version()
    campaign = Campaign.objects.select_related("segment").filter(code=code).first()
    if campaign is None:
        raise UnknownClaimTargetError("campaign", f"No campaign with code {code}.")
    audience = segment_audience(segment=campaign.segment)
    entry = _CampaignAudience(
        audience=audience, segments_version=version, fixed_test=_fixed_audience_test(audience)
    )
    with _audiences_lock:
        if len(_audiences) >= _MAX_KEPT_AUDIENCES:
            _audiences.clear()
        _audiences[code] = entry
    return entry


def _audience_test(audience: Audience, customer: str, now: datetime) -> tuple[str, tuple]:
    """SQL selecting customer `customer` when it is in `audience` at `now`."""
    query = (
        Customer.objects.filter(
            audience.membership(as_of=now, as_of_is_now=True, only_customer=customer),
            customer_id=customer,
        )
        .order_by()
        .values("pk")
    )
    return query.query.sql_with_params()


def _fixed_audience_test(audience: Audience) -> tuple[str, tuple] | None:
    """The audience test for any moment, or None when it depends on the moment."""
    first, second = (
        _audience_test(audience, _PROBE_CUSTOMER, instant) for instant in _PROBE_INSTANTS
    )
    sql, params = first
    if first != second or params[-1:] != (_PROBE_CUSTOMER,) or _PROBE_CUSTOMER in params[:-1]:
        return None
    return sql, params[:-1]


def _forget_audience(code: str) -> None:
    with _audiences_lock:
        _audiences.pop(code, None)


def _result(rows: list[dict], *, trigger: str) -> ClaimResult:
    first = rows[0]
    match first["outcome"]:
        case "refused":
            raise ClaimRefused(first["reason"], first["detail"])
        case "key_reused":
            raise IdempotencyKeyReused(first["detail"])
        case "unknown":
            raise UnknownClaimTargetError(first["reason"], first["detail"])
    grant = Grant(
        pk=first["grant_id"],
        campaign_id=first["campaign_pk"],
        customer_id=first["customer_pk"],
        channel_id=first["channel_pk"],
        trigger=trigger,
        granted_at=first["granted_at"],
    )
    coupons = []
    for row in rows:
        template = _loaded(
            CouponTemplate,
            id=row["template_id"],
            code=row["template_code"],
            kind=row["template_kind"],
            max_discount=row["template_max_discount"],
        )
        coupon = _loaded(
            Coupon,
            id=row["coupon_id"],
            grant_id=grant.pk,
            campaign_id=grant.campaign_id,
            customer_id=grant.customer_id,
            **{field: row[field] for field in _COUPON_FIELDS},
        )
        coupon.template = template
        coupons.append(coupon)
    return ClaimResult(grant=grant, coupons=coupons, created=first["outcome"] == "granted")


def _loaded(model, **values):
    """An instance of `model` as if read from the database (the fields not given are
    deferred: reading one loads it)."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


def _fingerprint(campaign: str, customer: str, channel: str, trigger: str) -> str:
    payload = json.dumps([campaign, customer, channel, str(trigger)], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class BatchClaim:
    """The engine's answer for one customer of a batch (claim_batch)."""

    customer: str
    outcome: str  # granted, replayed, refused, unknown, key_reused
    reason: str | None
    grant_id: int | None
    customer_pk: int | None


@reads_primary
def claim_batch(
    *,
    campaign: str,
    customers: list[str],
    idempotency_keys: list[str],
    channel: str,
    trigger: str,
    now: datetime,
) -> list[BatchClaim]:
    """The claims of `customers` (customer_ids, in this order) on campaign `campaign`, each
    with its idempotency key, in one statement: the batch entry of the same engine as
    claim_coupon (campaigns_claim_coupon is campaigns_claim_batch of one claim), so every
    customer is decided exactly as the same claims made one by one. Run it inside the
    caller's transaction: the batch commits or rolls back as a whole."""
    today = timezone.localdate(now, timezone.get_default_timezone())
    fingerprints = [_fingerprint(campaign, customer, channel, trigger) for customer in customers]
    answers: list[BatchClaim] = []
    remaining = 0
    for _ in range(3):
        target = _campaign_audience(campaign)
        pending = customers[remaining:]
        members_sql, members_params = (
            Customer.objects.filter(
                target.audience.membership(as_of=now, as_of_is_now=True),
                customer_id__in=pending,
            )
            .order_by()
            .values("customer_id")
            .query.sql_with_params()
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH members AS ({members_sql})
                SELECT a.customer, a.outcome, a.reason, a.grant_id, a.customer_pk
                FROM campaigns_claim_batch(
                    %s, %s::text[], %s::text[], %s::text[],
                    ARRAY(SELECT t.c IN (SELECT m.customer_id FROM members m)
                          FROM unnest(%s::text[]) WITH ORDINALITY AS t (c, n) ORDER BY t.n),
                    %s, %s, %s, %s, %s, %s, %s, %s, %s) AS a
                """,
                [
                    *members_params,
                    campaign,
                    pending,
                    idempotency_keys[remaining:],
                    fingerprints[remaining:],
                    pending,
                    channel,
                    str(trigger),
                    now,
                    today,
                    target.audience.segment_id,
                    target.segments_version,
                    HarassmentSettings._meta.get_field("max_unused_coupons").default,
                    HarassmentSettings._meta.get_field("min_hours_between_same_template").default,
                    operator_zone_name(),
                ],
            )
            rows = [BatchClaim(*row) for row in cursor.fetchall()]
        done = [row for row in rows if row.outcome != "stale"]
        answers.extend(done)
        remaining += len(done)
        if remaining == len(customers):
            return answers
        _forget_audience(campaign)
    raise RuntimeError(f"the audience of campaign {campaign} kept changing during the batch")

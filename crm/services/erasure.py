"""Erasing a customer's personal data on request (SPEC §9)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from crm.core.models import AuditEntry
from crm.models import Customer, Identity

# The personal fields blanked by an erasure; orders, events and derived metrics stay, so
# reports keep the (now anonymous) purchase history.
ERASED_FIELDS = ("name", "phone", "email", "birth_date")


@dataclass(frozen=True)
class ErasureResult:
    customer_id: str
    identities_deleted: int


@transaction.atomic
def erase_customer_pii(*, customer: Customer, requested_by, now: datetime) -> ErasureResult:
    """Blank the customer's name, phone, e-mail and birth date and delete their identities.

    Orders, order items, behaviour events and metrics are kept. Sets `pii_erased_at` to
    `now` and writes one AuditEntry naming the erased fields; the erased values are never
    written anywhere (audit, logs). Atomic: either everything is erased and audited or
    nothing is. Erasing an already erased customer is harmless and audited again.
    """
    Customer.objects.filter(pk=customer.pk).update(
        name="", phone="", email="", birth_date=None, pii_erased_at=now, updated_at=now
    )
    identities_deleted, _ = Identity.objects.filter(customer_id=customer.pk).delete()
    AuditEntry.objects.create(
        at=now,
        actor=requested_by,
        action="erase_customer_pii",
        object_type="customer",
        object_id=customer.customer_id,
        changes={"erased_fields": list(ERASED_FIELDS), "identities_deleted": identities_deleted},
    )
    return ErasureResult(customer_id=customer.customer_id, identities_deleted=identities_deleted)

"""Erasing a customer's personal data on request (SPEC §9)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from crm.core.models import AuditEntry
from crm.models import Customer, Identity
from crm.services.imports import reports

# The personal fields blanked by an erasure; orders, events and derived metrics stay, so
# reports keep the (now anonymous) purchase history.
ERASED_FIELDS = ("name", "phone", "email", "birth_date")
# The import columns that hold a person's data: the erased fields and their identities.
PERSONAL_IMPORT_COLUMNS = (*ERASED_FIELDS, "identities")


@dataclass(frozen=True)
class ErasureResult:
    customer_id: str
    identities_deleted: int


@transaction.atomic
def erase_customer_pii(*, customer: Customer, requested_by, now: datetime) -> ErasureResult:
    """Blank the customer's name, phone, e-mail and birth date and delete their identities.

    Orders, order items, behaviour events and metrics are kept. The customer's data is
    also blanked in the imports' refused rows reports (the uploaded files themselves are
    deleted as soon as their import ends, and an import run later keeps no personal data
    of an erased customer). Sets `pii_erased_at` to `now` and writes one AuditEntry naming
    the erased fields; the erased values are never written anywhere (audit, logs). Atomic:
    either everything is erased and audited or nothing is. Erasing an already erased
    customer is harmless and audited again.
    """
    personal = (
        Customer.objects.select_for_update()
        .filter(pk=customer.pk)
        .values("customer_id", "phone", "email")
        .get()
    )
    own_identities = [
        f"{source}:{external_id}"
        for source, external_id in Identity.objects.filter(customer_id=customer.pk).values_list(
            "source", "external_id"
        )
    ]
    Customer.objects.filter(pk=customer.pk).update(
        name="", phone="", email="", birth_date=None, pii_erased_at=now, updated_at=now
    )
    identities_deleted, _ = Identity.objects.filter(customer_id=customer.pk).delete()
    reports.erase_person_from_reports(
        **personal, identities=own_identities, personal_columns=PERSONAL_IMPORT_COLUMNS
    )
    AuditEntry.objects.create(
        at=now,
        actor=requested_by,
        action="erase_customer_pii",
        object_type="customer",
        object_id=customer.customer_id,
        changes={"erased_fields": list(ERASED_FIELDS), "identities_deleted": identities_deleted},
    )
    return ErasureResult(customer_id=customer.customer_id, identities_deleted=identities_deleted)

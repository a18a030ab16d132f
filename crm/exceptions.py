"""Refusals of the customer-data domain (house rule 7): a reason from crm.enums and a detail.

crm.core.api maps them to 409 {"reason", "detail"}; commands and pages show the detail.
"""

from crm.core.api import DomainRefusal


class ImportRefused(DomainRefusal):
    """The whole file is refused (unreadable, bad header) before any row is stored.

    `reason` is an ImportRefusalReason value.
    """


class PointsRefused(DomainRefusal):
    """A points adjustment refused (crm.services.points): `reason` is insufficient_points
    (the balance would go below 0), balance_too_large, no_change or note_required."""

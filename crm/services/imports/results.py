"""What an import reports: rows created, updated, unchanged and refused, and why each
refused row was refused.

Every row read is counted exactly once, so the four counts add up to the rows of the file
(or the items of the request). The same counts go to the command's output, the job page
and the bulk API's answer.
"""

from dataclasses import dataclass, field

from crm.core.jobs import MAX_REPORTED_ERRORS


@dataclass(frozen=True)
class RowError:
    """One refused row: its CSV line number (or API item index) and why."""

    position: int
    reason: str


@dataclass
class BatchOutcome:
    """What storing one batch did; ImportResult adds them up."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    placeholders_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    touched_customer_ids: set[int] = field(default_factory=set)

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportResult:
    """What an import did. Every row read is counted once: created, updated, unchanged
    (already stored with the same values) or refused."""

    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    placeholders_created: int = 0
    customers_recomputed: int = 0
    # The first `error_limit` refusals, in file order; `refused` counts them all.
    errors: list[RowError] = field(default_factory=list)
    error_limit: int = MAX_REPORTED_ERRORS
    # Customers whose rows were written: the scope of the metrics recompute.
    touched_customer_ids: set[int] = field(default_factory=set, repr=False)

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + self.refused

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        """One line for the command's output and the job page."""
        text = (
            f"{self.rows:,} {'row' if self.rows == 1 else 'rows'}: {self.created:,} created, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.refused:,} refused"
        )
        if self.placeholders_created == 1:
            text += "; 1 unknown customer created as a placeholder"
        elif self.placeholders_created:
            text += f"; {self.placeholders_created:,} unknown customers created as placeholders"
        customers = "customer" if self.customers_recomputed == 1 else "customers"
        return f"{text}; metrics recomputed for {self.customers_recomputed:,} {customers}."

    def add(self, outcome: BatchOutcome) -> None:
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.refused += len(outcome.errors)
        self.placeholders_created += outcome.placeholders_created
        room = self.error_limit - len(self.errors)
        self.errors.extend(outcome.errors[:room])
        self.touched_customer_ids |= outcome.touched_customer_ids

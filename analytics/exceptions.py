"""Refusals of the reports: data with a reason, mapped to their status by crm.core.api."""

from crm.core.api import DomainRefusal


class CustomerBaseTimedOut(DomainRefusal):
    """The customer base computed from the orders (a segment's, or days the monthly facts
    do not answer) took longer than settings.REPORT_TIME_LIMIT_SECONDS. The API answers
    422: the request was understood, but it costs more than one request may take."""

    http_status = 422

    def __init__(self, seconds: float) -> None:
        super().__init__(
            "statement_timeout",
            f"Computing the customer base from the orders took longer than {seconds:g} s "
            "and was stopped. Whole months of all customers are read from the monthly facts "
            "at once; for a segment or other days, try a shorter period.",
        )

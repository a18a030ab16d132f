"""Composable predicates over orders and events; time always comes in as a parameter."""

from datetime import datetime

from django.db import models

from crm.enums import OrderStatus


class OrderQuerySet(models.QuerySet):
    def paid(self):
        return self.filter(status=OrderStatus.PAID)

    def placed_between(self, start: datetime | None, end: datetime):
        """Orders placed in (start, end]; start None means since the beginning."""
        qs = self.filter(placed_at__lte=end)
        return qs if start is None else qs.filter(placed_at__gt=start)


class EventQuerySet(models.QuerySet):
    def of_kind(self, kind: str):
        return self.filter(kind=kind)

    def occurred_between(self, start: datetime | None, end: datetime):
        """Events in (start, end]; start None means since the beginning."""
        qs = self.filter(occurred_at__lte=end)
        return qs if start is None else qs.filter(occurred_at__gt=start)

"""How a coupon template's restrictions (categories, SKUs, stores, cities) meet the data.

They are codes the shop's orders carry (`dried_fruit`, `DF-01`, `SH-01`), typed by marketers
and written by importers. A restriction value matches an order's value trimmed and
case-insensitively, so "Dried_Fruit " fits an item of `dried_fruit`. A looser key also
treats runs of spaces, dashes and underscores alike: it never decides a redemption, it only
suggests the code a label meant ("Dried fruit" -> `dried_fruit`) in the warning a template
gets for a value no order holds (campaigns.selectors.restriction_warnings).
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Restriction:
    field: str  # the CouponTemplate list field
    label: str  # the marketer's word for one value
    values: str  # the pick list (campaigns.selectors.VALUE_SOURCES) its values come from


RESTRICTIONS = (
    Restriction(field="categories", label="category", values="category"),
    Restriction(field="skus", label="SKU", values="sku"),
    Restriction(field="stores", label="store", values="store"),
    Restriction(field="cities", label="city", values="city"),
)

_SEPARATORS = re.compile(r"[\s_-]+")


def matching_key(value: str) -> str:
    """What a restriction value and an order's value are compared by."""
    return value.strip().lower()


def suggestion_key(value: str) -> str:
    """A looser key, for suggesting the code a label meant ("Dried fruit" ~ dried_fruit)."""
    return _SEPARATORS.sub("_", matching_key(value))

"""Sortable column headers of list pages (templates/components/sort_header.html)."""

from collections.abc import Iterable


def sort_columns(current: str, columns: Iterable[tuple[str, str, bool]]) -> dict[str, dict]:
    """Each column's header state for the `ordering` asked for (`current`, `-` for
    descending): columns are (ordering key, label, first click descending?); a click on the
    active column reverses it."""
    headers = {}
    for key, label, descending_first in columns:
        active = current.lstrip("-") == key
        descending = active and current.startswith("-")
        if active:
            next_ordering = key if descending else f"-{key}"
        else:
            next_ordering = f"-{key}" if descending_first else key
        headers[key] = {
            "label": label,
            "active": active,
            "descending": descending,
            "next_ordering": next_ordering,
        }
    return headers

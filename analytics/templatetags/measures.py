"""Report pages' formats: `{{ measures|measure:"gmv" }}` (a SPEC §6 measure as the pages
write it) and `{% sparkline counts %}` (grants per minute as bars)."""

from django import template
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()

RATES = {"claim_rate", "redemption_rate"}
MONEY = {"gmv", "cost", "aov", "incremental_gmv"}


def shown(key: str, value) -> str | None:
    """A measure as the page writes it (None: no denominator)."""
    if value is None:
        return None
    if key in RATES:
        return f"{value:.1%}"
    if key in MONEY:
        return f"{value:,.2f}"
    if key == "roi":
        return f"{value:.2f}"
    return f"{value:,}"


@register.filter
def measure(measures, name: str) -> str:
    """The measure `name` of `measures`, or a dash where it has no denominator."""
    value = shown(name, getattr(measures, name))
    return "—" if value is None else value


@register.simple_tag
def sparkline(counts: list[int], width: int = 150, height: int = 28) -> str:
    """Bars of `counts` (grants per minute), scaled to the largest, as inline SVG."""
    peak = max(counts, default=0) or 1
    step = width / max(len(counts), 1)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        (
            (
                f"{n * step:.1f}",
                f"{height - count * height / peak:.1f}",
                f"{max(step - 1, 1):.1f}",
                f"{count * height / peak:.1f}",
                count,
            )
            for n, count in enumerate(counts)
        ),
    )
    return format_html(
        '<svg class="sparkline" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="Grants per minute">{}</svg>',
        width,
        height,
        width,
        height,
        bars,
    )


@register.filter
def money(value) -> str:
    """An amount with the operator's currency symbol (settings.CURRENCY_SYMBOL)."""
    if value is None:
        return "—"
    return f"{settings.CURRENCY_SYMBOL}{value:,.2f}"


@register.simple_tag
def trend(current, previous) -> str:
    """How `current` compares with `previous`, as a signed percentage (or "new")."""
    if current == previous:
        return mark_safe('<span class="trend flat">no change</span>')
    if not previous:
        return mark_safe('<span class="trend up">new</span>')
    change = (float(current) - float(previous)) / float(previous)
    direction = "up" if change > 0 else "down"
    arrow = "▲" if change > 0 else "▼"
    return format_html('<span class="trend {}">{} {}</span>', direction, arrow, f"{change:+.1%}")

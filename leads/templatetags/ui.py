"""Small presentation helpers shared by every template: `{% load ui %}`."""

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from leads import navigation

register = template.Library()


@register.simple_tag
def fixed_url(url_name: str) -> str:
    """{% url url_name %} for a page without arguments, reversed once per process
    (leads.navigation.fixed_url): the layout's links are on every page."""
    return navigation.fixed_url(url_name) or reverse(url_name)  # reverse() raises NoReverseMatch


@register.simple_tag
def reltime(value):
    """A relative time ("3 hours ago") with the exact time on hover and for machines."""
    if not value:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time class="reltime" datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        local.strftime("%Y-%m-%d %H:%M %Z"),
        relative(value),
    )


def relative(value, now=None) -> str:
    """One unit is enough at a glance ("3 days ago", not "3 days, 4 hours ago"); hover for the rest."""
    now = now or timezone.now()
    delta = (now - value).total_seconds()
    if abs(delta) < 60:
        return "just now"
    if delta > 0:
        return f"{timesince(value, now, depth=1)} ago"
    return f"in {timeuntil(value, now, depth=1)}"


@register.inclusion_tag("partials/stage_badge.html")
def stage_badge(stage: str, label: str = ""):
    from leads.stages import stage_label

    return {"stage": stage, "label": label or stage_label(stage)}


SYSTEM_ACTORS = {"scoring": "Scoring", "system": "System", "import": "CSV import"}


@register.filter
def system_actor(label: str) -> str:
    """How an automatic actor reads: "scoring" -> "Scoring", "api:website" -> "API (website)"."""
    label = label or "system"
    if label.startswith("api:"):
        return f"API ({label[4:]})"
    return SYSTEM_ACTORS.get(label, label.capitalize())


@register.filter
def minutes(value) -> str:
    """A timedelta as minutes: timedelta(minutes=15) -> "15 minutes"."""
    count = max(1, round(value.total_seconds() / 60))
    return f"{count} minute{'s' if count != 1 else ''}"

"""Small presentation helpers shared by every template: `{% load ui %}`."""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


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
        naturaltime(value),
    )


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

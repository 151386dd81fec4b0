"""Template helpers of the sales and service workspaces: `{% load sales %}`."""

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from leads import policy
from leads.roles import Role, has_role
from leads.stages import SALES_STAGES

register = template.Library()

DUE_SOON = timedelta(hours=2)


@register.simple_tag
def sla_badge(handoff):
    """The SLA countdown of an open handoff: grey while there is time, amber under two hours, red past it."""
    if not handoff.due_at:
        return ""
    now = timezone.now()
    exact = timezone.localtime(handoff.due_at).strftime("%Y-%m-%d %H:%M %Z")
    if handoff.due_at <= now:
        css, text = "badge-danger", f"Overdue {timesince(handoff.due_at, now, depth=1)}"
    elif handoff.due_at - now <= DUE_SOON:
        css, text = "badge-warning", f"Due in {timeuntil(handoff.due_at, now, depth=1)}"
    else:
        css, text = "badge-neutral", f"Due in {timeuntil(handoff.due_at, now, depth=1)}"
    return format_html('<span class="badge {}" title="Due {}" data-testid="sla">{}</span>', css, exact, text)


@register.simple_tag
def sales_actions(user, lead):
    """What the sales and service workspaces let this user do on this lead, each None or why not."""
    is_sales = has_role(user, Role.SALES)
    return {
        "claim": lead.owner_id is None and is_sales and policy.why_not_claim(user, lead) is None,
        "release": lead.owner_id is not None and policy.why_not_release(user, lead) is None,
        "next_step": is_sales and lead.owner_id == user.pk,
        "flag": policy.why_not_flag_upgrade(user, lead) is None,
        "in_queue": lead.stage in SALES_STAGES and lead.owner_id is None,
    }

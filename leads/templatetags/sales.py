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
    # Release and next step belong to a lead being worked; a won or lost one has neither.
    worked = lead.stage in SALES_STAGES
    return {
        "claim": lead.owner_id is None and is_sales and policy.why_not_claim(user, lead) is None,
        "release": worked and lead.owner_id is not None and policy.why_not_release(user, lead) is None,
        "next_step": worked and is_sales and lead.owner_id == user.pk,
        "flag": policy.why_not_flag_upgrade(user, lead) is None,
        "in_queue": lead.stage in SALES_STAGES and lead.owner_id is None,
    }


@register.simple_tag
def offer_note(handoff, user):
    """Who routing offered an open handoff to, and until when, as the queue row and lead page say it:
    "Offered to you until 14:05", "Offered to Tom Berger until 14:05" (an admin's view), or that the
    offer lapsed. Empty when routing offered it to nobody."""
    if not handoff.offered_to_id:
        return ""
    until = handoff.offered_until
    exact = timezone.localtime(until).strftime("%Y-%m-%d %H:%M %Z") if until else ""
    if handoff.offered_to_id == user.pk:
        who = "you"
    else:
        person = handoff.offered_to
        who = (person.get_full_name() or person.get_username()) if person else "a colleague"
    if until is not None and until <= timezone.now():
        return format_html('<span class="offer-note is-lapsed" title="Lapsed {}">Offer to {} lapsed</span>', exact, who)
    if until is None:
        return format_html('<span class="offer-note" data-testid="offer">Offered to {}</span>', who)
    return format_html(
        '<span class="offer-note" data-testid="offer">Offered to {} until '
        '<time datetime="{}" title="{}">{}</time></span>',
        who,
        timezone.localtime(until).isoformat(),
        exact,
        timezone.localtime(until).strftime(
            "%H:%M" if until - timezone.now() < timedelta(hours=20) else "%b %-d, %H:%M"
        ),
    )

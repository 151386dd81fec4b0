"""The MQL list's table rows as HTML, built in one pass per page (templates/leads/mql_list.html).

The list shows 25 rows of 8 cells. Printed by the template, each row's ~20 values cost a variable
lookup, a localization and an escape each: the rows were about a third of the page's CPU
(bench/profile_list_page.py). Here each text is escaped with html.escape (what Django's escape
does, without its lazy-string wrapper), once per page for the texts that repeat, and each row is
one f-string. A row shows what the stage_badge and unsubscribed_badge partials and the reltime tag
show elsewhere."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from html import escape
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone
from django.utils.html import avoid_wrapping
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import TIME_STRINGS
from django.utils.translation import get_language

from .marketing_selectors import PageRow, top_factors
from .stages import stage_label

UNSUBSCRIBED = (
    '<span class="badge badge-danger" title="This person unsubscribed: do not send marketing email">Unsubscribed</span>'
)


class _Escaped(dict):
    """html.escape of each text, once per page: stage labels, sources, owners, rule names and
    relative times repeat from row to row."""

    def __missing__(self, text: str) -> str:
        self[text] = escaped = escape(text)
        return escaped


def rows_html(leads: list[PageRow], *, list_query: str) -> SafeString:
    """The <tr> of each lead (marketing_selectors.lead_page's rows), in order: one reverse() and one
    clock reading for the page."""
    now = timezone.now()
    zone = timezone.get_current_timezone()
    language = get_language()
    escaped = _Escaped()
    # The detail URL differs only by the id.
    marker = 999999999
    head, tail = reverse("lead-detail", args=[marker]).split(str(marker), 1)
    head, back = escaped[head], escaped[f"{tail}?list={quote(list_query, safe='')}"]

    def time_cell(value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(zone)
        iso = local.isoformat()  # digits and "-:.+T": nothing to escape
        # The title is strftime("%Y-%m-%d %H:%M %Z") of the reltime tag, cut from the ISO text (a
        # quarter of strftime's cost).
        title = f"{iso[:10]} {iso[11:16]} {escaped[local.tzname() or '']}"
        return f'<time class="reltime" datetime="{iso}" title="{title}">{escaped[_ago(value, now, language)]}</time>'

    rows = []
    for lead in leads:
        # Lead.full_name, and the owner's User.get_full_name() or username.
        full_name = f"{lead.first_name} {lead.last_name}".strip()
        lead_id, name, stage = lead.id, escaped[full_name or lead.email], lead.stage
        fit, engagement, campaign = lead.fit_score, lead.engagement_score, lead.utm_campaign
        owner_name = ""
        if lead.owner__username is not None:
            owner_full_name = f"{lead.owner__first_name} {lead.owner__last_name}".strip()
            owner_name = escaped[owner_full_name or lead.owner__username]
        campaign_html = f'<span class="cell-sub">{escaped[campaign]}</span>' if campaign else ""
        # Each line as the template printed it, so that the page is the same to the byte (an
        # f-string: str.format would parse the row's markup again for each row).
        rows.append(
            f'\n              <tr data-lead="{lead_id}">'
            f'\n                <td class="cell-select"><input type="checkbox" name="lead" value="{lead_id}"'
            f' aria-label="Select {name}"></td>'
            f'\n                <td class="cell-lead"><a class="cell-main" href="{head}{lead_id}{back}">{name}</a>'
            f'<span class="cell-sub">{escaped[lead.company or lead.email]}</span>'
            f"{UNSUBSCRIBED if lead.unsubscribed else ''}</td>"
            f'\n                <td class="num cell-score" title="{_score_title(lead, escaped)}">'
            f'\n                  <span class="score">{lead.score}</span>'
            f'<span class="cell-sub" aria-label="fit {fit} plus engagement {engagement}">{fit} + {engagement}</span>'
            "\n                </td>"
            f'\n                <td class="cell-stage"><span class="badge badge-stage-{escaped[stage]}">'
            f"{escaped[str(stage_label(stage))]}</span></td>"
            f'\n                <td class="hide-sm">{escaped[lead.source]}{campaign_html}</td>'
            f'\n                <td class="hide-sm">{owner_name}</td>'
            f'\n                <td class="num hide-sm">{time_cell(lead.last_activity_at)}</td>'
            f'\n                <td class="num">{time_cell(lead.created_at)}</td>'
            "\n              </tr>"
            "\n            "
        )
    return mark_safe("".join(rows))  # every value was escaped above


def _score_title(lead: PageRow, escaped: _Escaped) -> str:
    lines = [f"Fit {lead.fit_score} · engagement {lead.engagement_score}"]
    for factor in top_factors(lead):
        points = factor["points"]
        lines.append(f"{escaped[str(factor.get('rule', ''))]}: {'+' if points > 0 else ''}{escaped[str(points)]}")
    return "&#10;".join(lines)  # each part escaped above; &#10; is a line break in a tooltip


@lru_cache(maxsize=512)
def _unit_text(unit: str, count: int, language: str | None) -> str:
    return avoid_wrapping(TIME_STRINGS[unit] % {"num": count})


def _ago(value: datetime, now: datetime, language: str | None = None) -> str:
    """What leads.templatetags.ui.relative says for a past time ("3 days ago"), without its cost:
    django.utils.timesince's arithmetic at depth 1, with the unit's text cached per language."""
    seconds = (now - value).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    if seconds < 0:
        from .templatetags.ui import relative

        return relative(value, now)
    value = value.astimezone(now.tzinfo)
    months = (now.year - value.year) * 12 + (now.month - value.month)
    if value.day > now.day or (value.day == now.day and value.time() > now.time()):
        months -= 1
    years, months = divmod(months, 12)
    language = language or get_language()
    if years:
        return f"{_unit_text('year', years, language)} ago"
    if months:
        return f"{_unit_text('month', months, language)} ago"
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"{_unit_text(unit, int(seconds // size), language)} ago"
    return "just now"

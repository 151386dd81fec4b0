import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.marketing_selectors import SORTS, decode_cursor
from leads.models import Lead, SavedView
from tests.factories import LeadFactory, UserFactory, lead_in_stage

URL = reverse("mql-list")


def row_ids(response) -> list[int]:
    return [int(value) for value in re.findall(r'<tr data-lead="(\d+)"', response.content.decode())]


def test_it_sends_visitors_to_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_it_refuses_sales_reps(client_as, sales_rep):
    assert client_as(sales_rep).get(URL).status_code == 403


def test_it_lists_mqls_by_default(marketer_client):
    mql = lead_in_stage("mql", score=70)
    plain = LeadFactory(score=90)
    response = marketer_client.get(URL)
    assert response.status_code == 200
    assert row_ids(response) == [mql.pk]
    assert plain.pk not in row_ids(response)
    assert "1 lead" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "match", "miss"),
    [
        ({"score_min": 50}, {"score": 60}, {"score": 40}),
        ({"score_max": 50}, {"score": 40}, {"score": 60}),
        ({"source": "webinar"}, {"source": "webinar"}, {"source": "website"}),
        ({"campaign": "spring"}, {"utm_campaign": "spring"}, {"utm_campaign": "autumn"}),
        ({"country": "de"}, {"country": "DE"}, {"country": "US"}),
        ({"industry": "Retail"}, {"industry": "Retail"}, {"industry": "Software"}),
        ({"size": "50-199"}, {"company_size": 120}, {"company_size": 20}),
        ({"size": "1000+"}, {"company_size": 5000}, {"company_size": 999}),
        (
            {"q": "ada initech"},
            {"first_name": "Ada", "company": "Initech Corp"},
            {"first_name": "Ada", "company": "Other"},
        ),
        ({"q": "zed@"}, {"email": "zed@example.org"}, {"email": "amy@example.org"}),
    ],
)
def test_each_filter_narrows_the_list(marketer_client, params, match, miss):
    wanted = lead_in_stage("mql", **match)
    other = lead_in_stage("mql", **miss)
    ids = row_ids(marketer_client.get(URL, params))
    assert wanted.pk in ids
    assert other.pk not in ids


def test_it_filters_by_stage_and_owner(marketer_client, marketer, sales_rep):
    sql = lead_in_stage("sql")
    Lead.objects.filter(pk=sql.pk).update(owner=sales_rep)
    queued = lead_in_stage("sql")
    assert row_ids(marketer_client.get(URL, {"stage": "sql", "owner": "unowned"})) == [queued.pk]
    assert row_ids(marketer_client.get(URL, {"stage": "sql", "owner": "owned"})) == [sql.pk]
    assert set(row_ids(marketer_client.get(URL, {"stage": "any"}))) == {sql.pk, queued.pk}


def test_it_filters_by_created_and_activity_dates(marketer_client):
    now = timezone.now()
    old = lead_in_stage("mql")
    new = lead_in_stage("mql")
    Lead.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10), last_activity_at=now - timedelta(days=9))
    Lead.objects.filter(pk=new.pk).update(last_activity_at=now)
    today = timezone.localdate().isoformat()
    assert row_ids(marketer_client.get(URL, {"created_from": today})) == [new.pk]
    last_week = (timezone.localdate() - timedelta(days=8)).isoformat()
    assert row_ids(marketer_client.get(URL, {"created_to": last_week})) == [old.pk]
    assert row_ids(marketer_client.get(URL, {"active_from": today})) == [new.pk]


def test_an_invalid_filter_is_shown_beside_its_field_and_the_others_still_apply(marketer_client):
    lead_in_stage("mql", score=10, source="ads")
    kept = lead_in_stage("mql", score=10, source="webinar")
    response = marketer_client.get(URL, {"score_min": "lots", "source": "webinar"})
    html = response.content.decode()
    assert row_ids(response) == [kept.pk]
    assert 'class="field is-invalid' in html
    assert "Enter a whole number." in html


def test_filters_show_as_removable_chips(marketer_client):
    lead_in_stage("mql", source="webinar", country="DE")
    html = marketer_client.get(URL, {"source": "webinar", "country": "DE"}).content.decode()
    assert "Source: <b>webinar</b>" in html
    # Removing the source chip keeps the country filter.
    assert f'href="{URL}?country=DE" aria-label="Remove the filter Source: webinar"' in html


def _walk(client, params, direction="after"):
    """Follow the next links to the end and return every id seen, in order."""
    ids, response = [], client.get(URL, params)
    while True:
        ids += row_ids(response)
        match = re.search(r'href="\?([^"]+)" rel="next"', response.content.decode())
        if not match:
            return ids, response
        response = client.get(URL + "?" + match.group(1).replace("&amp;", "&"))


@pytest.mark.parametrize("sort", ["score", "newest", "activity"])
def test_keyset_pages_walk_every_lead_once_in_order(marketer_client, sort):
    now = timezone.now()
    leads = [lead_in_stage("mql", score=i % 4 * 10) for i in range(60)]  # many ties
    for i, lead in enumerate(leads):
        Lead.objects.filter(pk=lead.pk).update(
            created_at=now - timedelta(hours=i % 7),
            last_activity_at=None if i % 5 == 0 else now - timedelta(minutes=i % 9),
        )
    ordering = {
        "score": lambda lead: (-lead.score, -lead.pk),
        "newest": lambda lead: (-lead.created_at.timestamp(), -lead.pk),
        "activity": lambda lead: (
            lead.last_activity_at is None,
            -(lead.last_activity_at.timestamp() if lead.last_activity_at else 0),
            -lead.pk,
        ),
    }[sort]
    expected = [lead.pk for lead in sorted(Lead.objects.all(), key=ordering)]
    ids, last = _walk(marketer_client, {"sort": sort})
    assert ids == expected

    # And back: previous links from the last page return the earlier pages in order.
    back = []
    response = last
    while True:
        back = row_ids(response) + back
        match = re.search(r'href="\?([^"]+)" rel="prev"', response.content.decode())
        if not match:
            break
        response = marketer_client.get(URL + "?" + match.group(1).replace("&amp;", "&"))
    assert back == expected


def test_pages_never_use_offset(marketer_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(30):
        lead_in_stage("mql")
    with CaptureQueriesContext(connection) as queries:
        _walk(marketer_client, {})
    assert not any("OFFSET" in query["sql"] for query in queries.captured_queries)


def test_a_damaged_cursor_starts_from_the_first_page(marketer_client):
    lead = lead_in_stage("mql")
    assert row_ids(marketer_client.get(URL, {"after": "not-a-cursor"})) == [lead.pk]
    assert decode_cursor(SORTS["score"], "WyJ4IiwxXQ") is None  # ["x",1]: a string where a score belongs


def test_the_query_count_does_not_grow_with_the_rows(marketer_client, django_assert_max_num_queries, sales_rep):
    for i in range(60):
        lead = lead_in_stage("mql", score=i)
        if i % 2:
            Lead.objects.filter(pk=lead.pk).update(owner=UserFactory())
    marketer_client.get(URL)  # warm the suggestions cache
    with django_assert_max_num_queries(9):  # +1: the banner of the user's bulk jobs in progress
        first = marketer_client.get(URL)
    _, second_url = re.search(r'href="(\?[^"]+)" rel="next"', first.content.decode()).group(0, 1)
    with django_assert_max_num_queries(9):  # +1: the banner of the user's bulk jobs in progress
        second = marketer_client.get(URL + second_url.replace("&amp;", "&"))
    assert len(row_ids(first)) == 25
    assert len(row_ids(second)) == 25


def test_an_unsubscribed_lead_carries_the_badge_on_its_row_only(marketer_client, django_assert_max_num_queries):
    gone = lead_in_stage("mql", score=90, unsubscribed=True)
    kept = lead_in_stage("mql", score=80)
    for i in range(30):
        lead_in_stage("mql", score=i, unsubscribed=bool(i % 2))
    marketer_client.get(URL)  # warm the suggestions cache
    with django_assert_max_num_queries(9):  # +1: the banner of the user's bulk jobs in progress
        html = marketer_client.get(URL).content.decode()
    rows = dict(re.findall(r'<tr data-lead="(\d+)">(.*?)</tr>', html, re.S))
    assert ">Unsubscribed</span>" in rows[str(gone.pk)]
    assert "Unsubscribed" not in rows[str(kept.pk)]


def test_both_empty_states(marketer_client):
    html = marketer_client.get(URL).content.decode()
    assert 'data-testid="empty-none"' in html
    lead_in_stage("mql", source="ads")
    html = marketer_client.get(URL, {"source": "nothing-like-it"}).content.decode()
    assert 'data-testid="empty-nomatch"' in html
    assert "Clear filters" in html


def test_builtin_tabs_and_the_active_one(marketer_client):
    html = marketer_client.get(URL, {"owner": "unowned"}).content.decode()
    for name in ("All MQLs", "Unassigned", "New today", "High score"):
        assert f">{name}</a>" in html
    assert 'aria-current="page">Unassigned</a>' in html


def test_saved_views_are_tabs_after_the_builtin_ones_by_name(marketer_client, marketer):
    SavedView.objects.create(user=marketer, name="Webinars", query="source=webinar")
    germany = SavedView.objects.create(user=marketer, name="Germany", query="country=DE")
    SavedView.objects.create(user=UserFactory(roles=["marketing"]), name="Someone else's", query="country=FR")
    html = marketer_client.get(URL, {"country": "DE"}).content.decode()
    tabs = re.findall(r'<a class="tab" href="([^"]+)"[^>]*>([^<]+)</a>', html)
    assert tabs[4:] == [(URL + "?country=DE", "Germany"), (URL + "?source=webinar", "Webinars")]
    assert 'aria-current="page">Germany</a>' in html
    assert f'action="{reverse("mql-view-delete", args=[germany.pk])}"' in html


def test_the_filter_form_lands_on_the_short_url(marketer_client):
    response = marketer_client.get(
        URL, {"q": "", "stage": "mql", "source": "webinar", "score_max": "", "sort": "score"}
    )
    assert response.status_code == 302
    assert response["Location"] == URL + "?source=webinar"


def test_recycle_is_offered_only_where_leads_can_be_recycled(marketer_client):
    lead_in_stage("mql")
    lead_in_stage("sql")
    assert "Recycle…" not in marketer_client.get(URL).content.decode()
    assert "Recycle…" in marketer_client.get(URL, {"stage": "sql"}).content.decode()


def test_a_row_shows_its_cells_as_before_without_per_row_tags(marketer_client, sales_rep):
    from html import unescape

    from leads.templatetags.ui import relative

    lead = lead_in_stage("mql", first_name="Ada", last_name="<b>Lovelace</b>", company="Engines", source="webinar")
    Lead.objects.filter(pk=lead.pk).update(
        owner=sales_rep,
        utm_campaign="spring",
        score=70,
        fit_score=30,
        engagement_score=40,
        score_breakdown=[{"rule": "Job title <CTO>", "points": 25}, {"rule": "Unsubscribed", "points": -5}],
        last_activity_at=timezone.now() - timedelta(days=3, hours=2),
    )
    lead.refresh_from_db()
    html = marketer_client.get(URL, {"source": "webinar"}).content.decode()
    row = re.search(rf'<tr data-lead="{lead.pk}">(.*?)</tr>', html, re.S).group(1)
    assert f'href="{reverse("lead-detail", args=[lead.pk])}?list=source%3Dwebinar"' in row
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in row  # escaped, never markup
    title = unescape(re.search(r'class="num cell-score" title="([^"]*)"', row).group(1))
    assert title == "Fit 30 · engagement 40\nJob title <CTO>: +25\nUnsubscribed: -5"
    assert '<span class="badge badge-stage-mql">MQL</span>' in row
    assert (sales_rep.get_full_name() or sales_rep.username) in row
    assert f">{relative(lead.last_activity_at)}</time>" in row  # "3 days ago", as the reltime tag says


@pytest.mark.parametrize(
    "ago",
    [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=59, seconds=59),
        timedelta(hours=5),
        timedelta(days=1),
        timedelta(days=6, hours=23),
        timedelta(days=8),
        timedelta(days=29),
        timedelta(days=31),
        timedelta(days=59),
        timedelta(days=364),
        timedelta(days=366),
        timedelta(days=800),
        timedelta(minutes=-30),
    ],
)
def test_the_rows_relative_times_read_as_the_reltime_tag_does(ago):
    from leads.mql_rows import _ago
    from leads.templatetags.ui import relative

    now = timezone.now()
    assert _ago(now - ago, now) == relative(now - ago, now)


def test_the_filter_inputs_show_the_values_of_each_request(marketer_client):
    lead_in_stage("mql", source="webinar")
    for source in ["webinar", "ads", "webinar"]:
        html = marketer_client.get(URL, {"source": source, "score_min": "5"}).content.decode()
        assert f'name="source" value="{source}"' in html
        assert 'name="score_min" value="5"' in html
    html = marketer_client.get(URL, {"source": "ads", "score_min": "many"}).content.decode()
    assert "Enter a whole number." in html  # a form with errors is never the cached one


def test_the_count_of_a_search_on_one_page_or_many(marketer_client):
    for n in range(3):
        lead_in_stage("mql", last_name="Hopper", score=n)
    for n in range(30):
        lead_in_stage("mql", last_name="Lovelace", score=n)

    def count_text(params) -> str:
        html = marketer_client.get(URL, params).content.decode()
        return " ".join(re.search(r'data-testid="mql-count">(.*?)·', html, re.S).group(1).split())

    assert count_text({"q": "hopper"}) == "3 leads match"
    assert count_text({"q": "lovelace"}) == "30 leads match"
    assert count_text({"q": "nobody"}) == "0 leads match"

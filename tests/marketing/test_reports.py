import csv
import io
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, StageChange
from leads.report_selectors import Period, by_source, funnel, time_in_stage, weekly
from tests.factories import LeadFactory, lead_in_stage

URL = reverse("marketing-reports")


def this_month() -> Period:
    today = timezone.localdate()
    return Period(today - timedelta(days=29), today)


def test_funnel_counts_reached_stages_and_rates(db):
    LeadFactory.create_batch(2)  # still leads
    lead_in_stage("mql")
    lead_in_stage("sql")  # skipped MQL: counts as having passed it
    lead_in_stage("customer")
    lead_in_stage("disqualified")
    data = funnel(period=this_month())
    counts = {row["stage"]: row["count"] for row in data["rows"]}
    assert counts == {"lead": 6, "mql": 3, "sql": 2, "customer": 1}
    rates = {row["stage"]: (row["step"], row["total"]) for row in data["rows"]}
    assert rates["mql"] == (50.0, 50.0)
    assert rates["sql"] == (66.7, 33.3)
    assert {row["stage"]: row["count"] for row in data["side"]}["disqualified"] == 1


def test_leads_outside_the_period_are_left_out(db):
    old = lead_in_stage("mql")
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))
    assert funnel(period=this_month())["created"] == 0


def test_time_in_stage_median(db):
    now = timezone.now()
    for days in (1, 2, 10):
        lead = lead_in_stage("sql")
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(days=days, hours=1))
        StageChange.objects.filter(lead=lead).update(created_at=now - timedelta(hours=1))
    rows = {row["stage"]: row for row in time_in_stage(period=this_month())}
    assert rows["lead"]["moves"] == 3
    assert rows["lead"]["median_days"] == 2.0
    assert rows["lead"]["p90_days"] == 10.0


def test_weekly_and_by_source(db):
    lead_in_stage("mql", source="webinar")
    lead_in_stage("customer", source="webinar")
    LeadFactory(source="ads")
    weeks = weekly(period=this_month())
    assert sum(week["created"] for week in weeks) == 3
    assert sum(week["mql"] for week in weeks) == 1
    assert sum(week["sql"] for week in weeks) == 1
    sources = {row["source"]: row for row in by_source(period=this_month())}
    assert (sources["webinar"]["leads"], sources["webinar"]["mql_rate"], sources["webinar"]["won_rate"]) == (
        2,
        100.0,
        50.0,
    )
    assert sources["ads"]["mql_rate"] == 0.0


def test_the_page_draws_svg_charts_and_offers_csv(marketer_client, django_assert_max_num_queries):
    lead_in_stage("customer", source="webinar")
    with django_assert_max_num_queries(12):
        response = marketer_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<svg class="chart"') == 2
    for name in ("funnel", "time-in-stage", "weekly", "by-source"):
        assert f"csv={name}" in html


def test_csv_download(marketer_client):
    lead_in_stage("customer", source="webinar")
    today = timezone.localdate().isoformat()
    response = marketer_client.get(URL, {"start": today, "end": today, "csv": "by-source"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["source", "leads"]
    assert rows[1][:2] == ["webinar", "1"]
    assert f"by-source-{today}-{today}.csv" in response["Content-Disposition"]


def test_an_invalid_period_says_why_beside_the_field(marketer_client):
    html = marketer_client.get(URL, {"start": "2026-05-01", "end": "2026-04-01"}).content.decode()
    assert "Must be on or after the first day." in html


def test_reports_are_for_marketing(client_as, sales_rep):
    assert client_as(sales_rep).get(URL).status_code == 403


def test_the_owner_filter(marketer_client, sales_rep):
    owned = lead_in_stage("sql", source="webinar")
    Lead.objects.filter(pk=owned.pk).update(owner=sales_rep)
    lead_in_stage("mql", source="ads")
    today = timezone.localdate()
    mine = Period(today - timedelta(days=1), today, str(sales_rep.pk))
    assert funnel(period=mine)["created"] == 1
    assert [row["source"] for row in by_source(period=mine)] == ["webinar"]
    unowned = Period(today - timedelta(days=1), today, "unowned")
    assert [row["source"] for row in by_source(period=unowned)] == ["ads"]
    html = marketer_client.get(
        URL, {"start": today.isoformat(), "end": today.isoformat(), "owner": str(sales_rep.pk)}
    ).content.decode()
    assert f"owned by {sales_rep.get_full_name()}" in html
    assert f"owner={sales_rep.pk}&amp;csv=funnel" in html

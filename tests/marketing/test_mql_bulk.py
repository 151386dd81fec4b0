import csv
import io

from django.http import StreamingHttpResponse
from django.urls import reverse

from leads.models import Handoff, Lead, SavedView, StageChange
from tests.factories import LeadFactory, lead_in_stage

BULK = reverse("mql-bulk")
EXPORT = reverse("mql-export")


def result_line(client, response) -> str:
    follow = client.get(response["Location"])
    return " ".join(str(message) for message in follow.context["messages"])


def test_hand_off_two_selected_leads_to_sales(marketer_client, marketer):
    first, second, untouched = (lead_in_stage("mql") for _ in range(3))
    response = marketer_client.post(BULK, {"action": "handoff", "scope": "selected", "lead": [first.pk, second.pk]})
    assert response.status_code == 302
    assert "2 updated, 0 skipped" in result_line(marketer_client, response)
    assert set(Lead.objects.filter(stage="sql").values_list("pk", flat=True)) == {first.pk, second.pk}
    assert Lead.objects.get(pk=untouched.pk).stage == "mql"
    assert Handoff.objects.filter(lead__in=[first, second], status="open").count() == 2
    changes = StageChange.objects.filter(lead__in=[first, second], to_stage="sql")
    assert [(c.from_stage, c.actor_id) for c in changes] == [("mql", marketer.pk)] * 2


def test_it_skips_what_the_lifecycle_refuses_and_says_why(marketer_client):
    mql = lead_in_stage("mql")
    sql = lead_in_stage("sql")
    response = marketer_client.post(
        BULK,
        {
            "action": "recycle",
            "scope": "selected",
            "lead": [mql.pk, sql.pk],
            "reason_recycle": "no budget",
            "stage": "any",
        },
    )
    line = result_line(marketer_client, response)
    assert "1 updated, 1 skipped: A lead cannot move from MQL to MQL." in line
    assert Lead.objects.get(pk=sql.pk).stage == "mql"
    assert StageChange.objects.get(lead=sql, to_stage="mql").reason == "no budget"


def test_recycle_and_disqualify_need_a_reason(marketer_client):
    lead = lead_in_stage("mql")
    response = marketer_client.post(BULK, {"action": "disqualify", "scope": "selected", "lead": [lead.pk]})
    assert "Nothing was changed" in result_line(marketer_client, response)
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def test_it_needs_a_selection(marketer_client):
    lead_in_stage("mql")
    response = marketer_client.post(BULK, {"action": "handoff", "scope": "selected"})
    assert "Select at least one lead" in result_line(marketer_client, response)
    assert not Lead.objects.filter(stage="sql").exists()


def test_every_lead_matching_the_filters(marketer_client):
    webinar = [lead_in_stage("mql", source="webinar") for _ in range(3)]
    other = lead_in_stage("mql", source="ads")
    response = marketer_client.post(
        BULK, {"action": "disqualify", "scope": "all", "source": "webinar", "reason_disqualify": "students"}
    )
    assert "3 updated" in result_line(marketer_client, response)
    assert response["Location"].endswith("?source=webinar")
    assert set(Lead.objects.filter(stage="disqualified").values_list("pk", flat=True)) == {lead.pk for lead in webinar}
    assert Lead.objects.get(pk=other.pk).stage == "mql"


def test_selected_ids_outside_the_filters_are_ignored(marketer_client):
    customer = lead_in_stage("customer")
    marketer_client.post(BULK, {"action": "handoff", "scope": "selected", "lead": [customer.pk]})
    assert Lead.objects.get(pk=customer.pk).stage == "customer"


def test_sales_reps_cannot_post_bulk_actions(client_as, sales_rep):
    lead = lead_in_stage("mql")
    assert (
        client_as(sales_rep).post(BULK, {"action": "handoff", "scope": "selected", "lead": [lead.pk]}).status_code
        == 403
    )
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def read_csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_streams_the_filtered_set(marketer_client, monkeypatch):
    import leads.exports

    monkeypatch.setattr(leads.exports, "leads_iter", _small_chunks(leads.exports.leads_iter))
    wanted = [lead_in_stage("mql", source="webinar", company=f"Co {i}") for i in range(5)]
    lead_in_stage("mql", source="ads")
    LeadFactory(source="webinar")  # not an MQL
    response = marketer_client.get(EXPORT, {"source": "webinar"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    assert [int(row["id"]) for row in rows] == [lead.pk for lead in wanted]
    assert rows[0]["stage"] == "mql"
    assert rows[0]["company"] == "Co 0"


def _small_chunks(original):
    def wrapper(leads, *, fields, chunk_size=2):
        return original(leads, fields=fields, chunk_size=2)

    return wrapper


def test_export_of_the_selection_and_formula_cells(marketer_client):
    first = lead_in_stage("mql", company='=HYPERLINK("http://evil")')
    lead_in_stage("mql")
    rows = read_csv(marketer_client.get(EXPORT, {"lead": [first.pk], "scope": "selected"}))
    assert len(rows) == 1
    assert rows[0]["company"].startswith("'=")


def test_the_export_says_who_unsubscribed(marketer_client):
    gone = lead_in_stage("mql", unsubscribed=True)
    lead_in_stage("mql")
    rows = {int(row["id"]): row for row in read_csv(marketer_client.get(EXPORT))}
    assert rows.pop(gone.pk)["unsubscribed"] == "yes"
    assert [row["unsubscribed"] for row in rows.values()] == ["no"]


def test_save_a_view_and_see_it_as_a_tab(marketer_client, marketer, client_as, admin_user):
    url = reverse("mql-view-save")
    response = marketer_client.post(url, {"name": "German webinars", "query": "country=de&source=webinar&after=x"})
    assert response["Location"] == reverse("mql-list") + "?source=webinar&country=DE"
    view = SavedView.objects.get(user=marketer)
    assert view.query == "source=webinar&country=DE"
    html = marketer_client.get(response["Location"]).content.decode()
    assert 'aria-current="page">German webinars</a>' in html
    assert "German webinars" not in client_as(admin_user).get(reverse("mql-list")).content.decode()
    # The same name replaces the filters; removing it removes the tab.
    marketer_client.post(url, {"name": "German webinars", "query": "country=DE"})
    assert SavedView.objects.get(user=marketer).query == "country=DE"
    marketer_client.post(reverse("mql-view-delete", args=[view.pk]))
    assert not SavedView.objects.exists()


def test_a_view_needs_a_name(marketer_client):
    marketer_client.post(reverse("mql-view-save"), {"name": "", "query": "country=DE"})
    assert not SavedView.objects.exists()

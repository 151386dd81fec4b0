"""An unsubscribed lead is flagged wherever it is listed: search, duplicates, merge, the API.

The flag is a column of the lead: showing it costs no query per row.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.api.auth import api_key_create
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

BADGE = 'class="badge badge-danger" title="This person unsubscribed: do not send marketing email">Unsubscribed<'


def queries_for(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_search_flags_only_the_unsubscribed_lead_and_costs_no_query_per_row(client, marketer):
    LeadFactory(first_name="Ada", last_name="Quiet", email="ada@acme.example", unsubscribed=True)
    LeadFactory(first_name="Bob", last_name="Mailable", email="bob@acme.example")
    client.force_login(marketer)
    before, html = queries_for(client, "/search/?q=acme")
    assert html.count(BADGE) == 1
    ada_row = html[html.index("Ada Quiet") :].split("</tr>")[0]
    assert BADGE in ada_row  # on Ada's row, not Bob's

    for n in range(10):
        LeadFactory(email=f"more{n}@acme.example", unsubscribed=True)
    after, html = queries_for(client, "/search/?q=acme")
    assert html.count(BADGE) == 11
    assert after == before


def test_duplicates_and_the_merge_page_flag_the_unsubscribed_side(client, marketer):
    quiet = LeadFactory(first_name="Ada", last_name="Lovelace", email="ada@engines.example", unsubscribed=True)
    loud = LeadFactory(first_name="Ada", last_name="Lovelace", email="a.lovelace@engines.example")
    client.force_login(marketer)
    _, duplicates = queries_for(client, "/marketing/duplicates/")
    assert "a.lovelace@engines.example" in duplicates
    assert duplicates.count(BADGE) == 1
    _, merge = queries_for(client, f"/marketing/duplicates/{quiet.pk}/{loud.pk}/")
    side = merge[merge.index(f"#{quiet.pk} ") :]
    assert side.index(BADGE) < side.index(f"#{loud.pk} ")
    assert merge.count(BADGE) == 1


def test_the_api_list_and_detail_expose_unsubscribed(client):
    quiet = LeadFactory(unsubscribed=True)
    LeadFactory()
    key = api_key_create(name="reader", scopes=["read"], form_name="")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key.raw_key}"}
    listed = {row["id"]: row["unsubscribed"] for row in client.get("/api/v1/leads/", **headers).json()["results"]}
    assert listed[quiet.pk] is True
    assert sorted(listed.values()) == [False, True]
    assert client.get(f"/api/v1/leads/{quiet.pk}/", **headers).json()["unsubscribed"] is True

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead
from tests.api.conftest import assert_error
from tests.factories import LeadFactory, UserFactory

URL = "/api/v1/leads/"


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def test_it_lists_leads_newest_first(read_client):
    leads = [LeadFactory() for _ in range(3)]
    response = read_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert ids(response) == [lead.pk for lead in reversed(leads)]
    assert body["next"] is None and body["next_cursor"] is None
    assert set(body["results"][0]) >= {"id", "email", "stage", "score", "owner", "created_at", "last_activity_at"}


def test_cursor_pages_walk_every_lead_once_in_order(read_client):
    for score in [5, 10, 10, 10, 20, 0, 0, 30]:
        LeadFactory(score=score)
    seen, url = [], f"{URL}?ordering=-score&limit=3"
    while url:
        body = read_client.get(url).json()
        seen += [(row["score"], row["id"]) for row in body["results"]]
        url = body["next"]
    assert seen == sorted(((lead.score, lead.pk) for lead in Lead.objects.all()), reverse=True)


@pytest.mark.parametrize("ordering", ["-last_activity_at", "last_activity_at", "created_at", "score"])
def test_cursor_pages_handle_every_ordering_including_nulls(read_client, ordering):
    now = timezone.now()
    for days in [None, 3, 1, None, 1, 2, None]:
        LeadFactory(last_activity_at=None if days is None else now - timedelta(days=days))
    seen, url = [], f"{URL}?ordering={ordering}&limit=2"
    while url:
        body = read_client.get(url).json()
        seen += ids_of(body)
        url = body["next"]
    assert sorted(seen) == sorted(Lead.objects.values_list("id", flat=True))
    assert len(seen) == len(set(seen))


def ids_of(body) -> list[int]:
    return [row["id"] for row in body["results"]]


def test_the_list_costs_a_constant_number_of_queries(read_client, django_assert_max_num_queries):
    owner = UserFactory(roles=["sales"])
    for _ in range(30):
        LeadFactory(owner=owner)
    with django_assert_max_num_queries(3):  # key lookup, page (with owners); last-used write at most
        response = read_client.get(f"{URL}?limit=30")
    assert len(response.json()["results"]) == 30


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("stage=mql", {"mql"}),
        ("stage=mql&stage=sql", {"mql", "sql"}),
        ("score_min=50", {"sql"}),
        ("score_max=10", {"lead"}),
        ("country=de", {"mql"}),
        ("industry=Retail", {"sql"}),
        ("source=ads", {"lead"}),
        ("q=ZORRO", {"mql"}),
        ("q=acme-search", {"sql"}),
        ("unowned=true", {"lead", "mql"}),
        ("unowned=false", {"sql"}),
    ],
)
def test_it_filters(read_client, query, expected):
    owner = UserFactory(roles=["sales"])
    LeadFactory(stage="lead", score=5, source="ads", country="US")
    LeadFactory(stage="mql", score=30, country="DE", last_name="Zorro")
    LeadFactory(stage="sql", score=70, industry="Retail", company="Acme-Search GmbH", owner=owner)
    response = read_client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    assert {row["stage"] for row in response.json()["results"]} == expected


def test_it_filters_by_owner_and_dates(session_client, sales_rep):
    mine = LeadFactory(owner=sales_rep)
    LeadFactory()
    client = session_client(sales_rep)
    assert ids(client.get(f"{URL}?owner=me")) == [mine.pk]
    assert ids(client.get(f"{URL}?owner={sales_rep.pk}")) == [mine.pk]
    after = (timezone.now() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert ids(client.get(URL, {"created_after": after})) == []


@pytest.mark.parametrize(
    "query",
    ["ordering=email", "limit=0", "limit=1000", "cursor=garbage", "stage=nope", "score_min=x", "owner=bob"],
)
def test_it_rejects_bad_parameters(read_client, query):
    assert_error(read_client.get(f"{URL}?{query}"), 400, "validation_error")


def test_a_cursor_of_another_ordering_is_refused(read_client):
    for _ in range(3):
        LeadFactory()
    cursor = read_client.get(f"{URL}?limit=1").json()["next_cursor"]
    assert_error(read_client.get(f"{URL}?ordering=-score&cursor={cursor}"), 400)


def test_it_requires_the_read_scope(client_for):
    assert_error(client_for("submit").get(URL), 403)


def test_people_with_a_role_may_read(session_client, service_rep):
    assert session_client(service_rep).get(URL).status_code == 200


def test_people_without_a_role_may_not(session_client):
    assert_error(session_client(UserFactory()).get(URL), 403)


def test_a_deep_page_is_a_keyset_query_not_an_offset(read_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):
        LeadFactory()
    cursor = read_client.get(f"{URL}?ordering=-score&limit=2").json()["next_cursor"]
    with CaptureQueriesContext(connection) as queries:
        response = read_client.get(f"{URL}?ordering=-score&limit=2&cursor={cursor}")
    assert response.status_code == 200
    page_sql = next(q["sql"] for q in queries.captured_queries if "leads_lead" in q["sql"] and "ORDER BY" in q["sql"])
    assert "OFFSET" not in page_sql.upper()
    assert '("leads_lead"."score", "leads_lead"."id") <' in page_sql


@pytest.mark.parametrize("ordering", ["-last_activity_at", "last_activity_at"])
def test_leads_without_activity_come_last_in_either_direction_across_cursor_pages(
    read_client, ordering, django_assert_max_num_queries
):
    now = timezone.now()
    for days in [None, 3, 1, None, 1, 2, None, 5]:
        LeadFactory(last_activity_at=None if days is None else now - timedelta(days=days))
    active = Lead.objects.filter(last_activity_at__isnull=False)
    by_time = sorted(active, key=lambda lead: (lead.last_activity_at, lead.pk), reverse=ordering.startswith("-"))
    never = Lead.objects.filter(last_activity_at__isnull=True).order_by("-id" if ordering.startswith("-") else "id")
    expected = [lead.pk for lead in by_time] + [lead.pk for lead in never]

    seen, url = [], f"{URL}?ordering={ordering}&limit=3"
    while url:
        # key lookup, the rows with a value, the rows without one; a last-used write at most
        with django_assert_max_num_queries(4):
            body = read_client.get(url).json()
        seen += ids_of(body)
        url = body["next"]
    assert seen == expected


def test_a_cursor_from_a_lead_without_activity_goes_on_among_those_without(read_client):
    never = [LeadFactory(last_activity_at=None) for _ in range(3)]
    LeadFactory(last_activity_at=timezone.now())
    body = read_client.get(f"{URL}?ordering=-last_activity_at&limit=2").json()
    assert ids_of(body)[1] == never[-1].pk
    rest = read_client.get(body["next"]).json()
    assert ids_of(rest) == [never[1].pk, never[0].pk]
    assert rest["next"] is None


def test_the_list_rows_are_what_the_documented_serializer_gives(read_client):
    from leads.api.serializers import LeadListSerializer

    named = UserFactory(roles=["sales"], first_name="Grace", last_name="Hopper")
    bare = UserFactory(roles=["sales"], first_name="", last_name="")
    now = timezone.now()
    LeadFactory(owner=named, claimed_at=now, last_activity_at=now - timedelta(minutes=5), unsubscribed=True)
    LeadFactory(owner=bare, last_activity_at=None)
    LeadFactory(owner=None, score=42, score_stale=True)
    rows = read_client.get(URL).json()["results"]
    expected = LeadListSerializer(Lead.objects.select_related("owner").order_by("-created_at", "-id"), many=True).data
    assert rows == [dict(row) for row in expected]
    assert rows[2]["owner"] == {"id": named.pk, "username": named.username, "name": "Grace Hopper"}
    assert rows[1]["owner"]["name"] == bare.username


@pytest.mark.parametrize("ordering", ["-created_at", "created_at", "-score", "-last_activity_at", "last_activity_at"])
def test_a_text_search_pages_through_every_match_once_in_order(read_client, ordering, django_assert_max_num_queries):
    now = timezone.now()
    for n, days in enumerate([None, 3, 1, None, 1, 2, None, 5, 4]):
        activity = None if days is None else now - timedelta(days=days)
        LeadFactory(last_name="Hopper", score=n % 3, last_activity_at=activity)
        LeadFactory(last_name="Lovelace", score=n % 3, last_activity_at=activity)
    field = ordering.lstrip("-")
    descending = ordering.startswith("-")
    matches = list(Lead.objects.filter(last_name="Hopper"))
    valued = sorted(
        (lead for lead in matches if getattr(lead, field) is not None),
        key=lambda lead: (getattr(lead, field), lead.pk),
        reverse=descending,
    )
    valueless = sorted((lead.pk for lead in matches if getattr(lead, field) is None), reverse=descending)
    expected = [lead.pk for lead in valued] + valueless

    seen, url = [], f"{URL}?q=hopp&ordering={ordering}&limit=2"
    while url:
        # key lookup, the search's estimate, the rows with a value, the rows without; a last-used write
        with django_assert_max_num_queries(5):
            body = read_client.get(url).json()
        seen += ids_of(body)
        url = body["next"]
    assert seen == expected


@pytest.mark.postgres
def test_a_rare_term_collects_its_matches_first_and_a_common_one_walks_the_order(read_client):
    """The cost rule of leads.api.filters: matches first only where matches * matches < page * rows
    (by the planner's estimates); either way the page holds the newest matches."""
    from django.db import connection
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from leads.api.filters import LeadFilter, text_search_is_narrow

    Lead.objects.bulk_create(
        LeadFactory.build(last_name="Hopper" if n % 3 else "Lovelace", company=f"Firm {n}") for n in range(3000)
    )
    rare = [LeadFactory(last_name="Zorrowitz") for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")

    def narrow(term: str) -> bool:
        request = Request(APIRequestFactory().get(URL, {"q": term}))
        leads = LeadFilter(request.query_params, queryset=Lead.objects.all(), request=request).qs
        return text_search_is_narrow(leads, request, page_rows=51)

    assert narrow("zorro") is True
    assert narrow("hopper") is False
    assert ids(read_client.get(f"{URL}?q=zorro")) == [lead.pk for lead in reversed(rare)]
    newest_hoppers = Lead.objects.filter(last_name="Hopper").order_by("-created_at", "-id")[:50]
    assert ids(read_client.get(f"{URL}?q=hopper")) == [lead.pk for lead in newest_hoppers]

"""What a submission costs the database on PostgreSQL: the key lookup and one statement.

The hot path of the API (issue 9): the lead upsert, the raw submission, the form_submitted event,
the webhook outbox and the suppression check are one data-modifying statement, small enough for
psycopg to cache its parsed form (parsing it afresh cost ~10% of a request's CPU).
"""

import psycopg._queries
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead, Submission, WebhookEndpoint

pytestmark = pytest.mark.postgres

BODY = {"form_name": "demo", "email": "ada@example.com", "first_name": "Ada", "consent": True}


def statements_of(client, body: dict) -> tuple[object, list[str]]:
    connection.ensure_connection()
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/submissions/", body, format="json")
    # The test's own transaction turns write_once's autocommit into savepoints: not counted.
    return response, [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]


@pytest.mark.parametrize("returning", [False, True])
def test_a_submission_is_the_key_lookup_and_one_statement(submit_client, returning):
    if returning:
        submit_client.post("/api/v1/submissions/", BODY, format="json")
    response, statements = statements_of(submit_client, {**BODY, "first_name": "Augusta"})
    assert response.status_code == 201, response.content
    writes = [sql for sql in statements if "INSERT" in sql]
    assert len(writes) == 1, statements
    assert len(statements) <= 3, statements  # the key lookup, its last-used mark at most once a minute
    assert Lead.objects.get(email="ada@example.com").first_name == "Augusta"


def test_the_statement_stays_within_what_psycopg_caches(submit_client):
    # A subscribed endpoint adds the webhook outbox to the statement: its largest form.
    WebhookEndpoint.objects.create(name="crm", url="https://example.com/hook", secret="s" * 32, events=["lead.created"])
    captured = []

    def keep(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        response = submit_client.post("/api/v1/submissions/", {**BODY, "email": "new@example.com"}, format="json")
    assert response.status_code == 201, response.content
    (sql, params) = next((sql, params) for sql, params in captured if "INSERT" in sql)
    assert len(sql) <= psycopg._queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(params) <= psycopg._queries.MAX_CACHED_STATEMENT_PARAMS
    assert Submission.objects.filter(lead__email="new@example.com").count() == 1


def test_the_statement_and_the_key_lookup_are_prepared(submit_client):
    # Parsing and planning the statement afresh was most of a submission's PostgreSQL CPU.
    for n in range(2):
        response = submit_client.post("/api/v1/submissions/", {**BODY, "email": f"p{n}@example.com"}, format="json")
        assert response.status_code == 201, response.content
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("leads_submission" in statement for statement in prepared), prepared
    assert any('FROM "leads_apikey" WHERE prefix' in statement for statement in prepared), prepared

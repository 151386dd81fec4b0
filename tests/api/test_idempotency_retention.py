from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from leads.models import IdempotencyRecord


def make(key: str, age: timedelta) -> IdempotencyRecord:
    record = IdempotencyRecord.objects.create(
        scope="key:1", key=key, request_hash="x", response_status=201, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)
    return record


def test_it_forgets_answers_past_the_retry_window(db, capsys):
    make("old", timedelta(hours=30))
    make("fresh", timedelta(hours=2))
    call_command("purge_idempotency_keys")
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    assert "Deleted 1" in capsys.readouterr().out


def test_a_key_can_be_reused_once_forgotten(submit_client):
    body = {"form_name": "f", "email": "a@example.com"}
    submit_client.post("/api/v1/submissions/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    call_command("purge_idempotency_keys")
    response = submit_client.post(
        "/api/v1/submissions/", {**body, "company": "New"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 201 and "Idempotent-Replayed" not in response

"""The OpenAPI document: generated without a warning, and every endpoint documented.

This is the test that fails when someone adds an endpoint without its documentation.
"""

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, get_resolver

INTEGRATION_OPERATIONS = {"submissions_create", "events_create", "leads_list"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        # --fail-on-warn: any endpoint drf-spectacular cannot describe (an unknown serializer, a
        # missing type hint, an unnamed enum, an unknown authenticator) fails here.
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def assert_described(path: str, method: str, operation: dict) -> None:
    where = f"{method.upper()} {path}"
    assert operation.get("summary"), f"{where} has no summary"
    assert len(operation.get("description", "")) > 20, f"{where} has no description"


def test_every_operation_has_a_summary_a_description_and_its_errors(schema):
    for path, method, operation in operations(schema):
        assert_described(path, method, operation)
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), f"{where} documents no success"
        if path.startswith("/api/v1/"):
            for code in ("401", "403", "429", "503"):
                assert code in responses, f"{where} does not document {code}"
            for code, response in responses.items():
                if not code.startswith("2"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/Error"), f"{where} {code} is not the error shape"


def test_integration_endpoints_have_examples(schema):
    seen = set()
    for path, method, operation in operations(schema):
        if operation["operationId"] not in INTEGRATION_OPERATIONS:
            continue
        seen.add(operation["operationId"])
        if "requestBody" in operation:
            examples = operation["requestBody"]["content"]["application/json"].get("examples")
            assert examples, f"{method.upper()} {path} has no request example"
        success = next(r for code, r in operation["responses"].items() if code.startswith("2"))
        assert success["content"]["application/json"].get("examples"), f"{method.upper()} {path} no answer example"
    assert seen == INTEGRATION_OPERATIONS


def test_every_api_url_is_in_the_schema(schema):
    from leads.api import urls

    documented = set(schema["paths"])
    for pattern in urls.urlpatterns:
        if isinstance(pattern, URLPattern) and pattern.name:
            route = "/api/v1/" + str(pattern.pattern).replace("<int:pk>", "{id}")
            assert route in documented, f"{route} is missing from the schema"
    assert get_resolver() is not None


def test_bearer_keys_are_the_documented_security_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_schema_and_docs_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    response = client.get("/api/docs/")
    assert response.status_code == 200 and b"swagger" in response.content.lower()


def test_the_event_documentation_matches_the_runtime_validator():
    from leads.api.serializers import EVENT_FIELDS, EventInSerializer, validate_event

    assert set(EventInSerializer().fields) == EVENT_FIELDS
    from django.utils import timezone

    item, errors = validate_event(
        {"email": "a@b.co", "event_type": "page_view", "properties": {}, "external_id": "1", "source": "s"},
        default_source="d",
        now=timezone.now(),
    )
    assert item is not None and not errors


SUBMISSION_SAMPLES = [
    {"form_name": "f", "email": "a@b.co"},
    {"form_name": "f", "email": "a@b.co", "company_size": "12", "consent": "true", "country": "de"},
    {"form_name": "f", "email": "a@b.co", "company_size": True},
    {"form_name": "f", "email": "a@b.co", "consent": "maybe"},
    {"form_name": "f", "email": "a@b.co", "first_name": ["x"]},
    {"form_name": "f", "email": "a@b.co", "page_url": "ftp://x.example/"},
    {"form_name": "f", "email": "a@b.co", "submitted_at": "2026-01-01T00:00:00+02:00"},
    {"form_name": "  ", "email": "a@b.co"},
    {"form_name": "f", "email": "a@b.co", "fields": []},
    {"form_name": "f", "email": "a@b.co", "phone": 12345},
]


@pytest.mark.parametrize("sample", SUBMISSION_SAMPLES)
def test_the_submission_documentation_matches_the_runtime_validator(sample):
    from leads.api.serializers import SubmissionInSerializer, validate_submission

    serializer = SubmissionInSerializer(data=sample)
    data, errors = validate_submission(sample)
    assert serializer.is_valid() == (data is not None), (serializer.errors, errors)
    if data is not None:
        for name, value in serializer.validated_data.items():
            assert data.get(name, "") == value or (value is None and not data.get(name)), name
    else:
        assert set(errors) == set(serializer.errors)


def test_the_submission_validator_knows_every_documented_field():
    from leads.api.serializers import SUBMISSION_TEXT_FIELDS, SubmissionInSerializer

    handled = {*SUBMISSION_TEXT_FIELDS, "email", "country", "company_size", "consent", "page_url", "submitted_at"}
    assert {*handled, "fields"} == set(SubmissionInSerializer().fields)

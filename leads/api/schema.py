"""OpenAPI pieces shared by the views: the Bearer scheme, error responses, the Idempotency-Key header."""

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from .serializers import ErrorSerializer


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "leads.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key (`lk_...`) created by an admin, or a person's personal token: "
                "`Authorization: Bearer <key>`. Never put a key in the query string: such requests are refused."
            ),
        }


# Printable ASCII, not starting or ending with a space (HTTP strips those from a header value).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"


class NonBlankCharFieldSchema(OpenApiSerializerFieldExtension):
    """A CharField without allow_blank refuses "" and (trimmed) "   ": say so in the request schema.

    drf-spectacular leaves both out, so a client reading the schema would think an empty reason is
    fine; the API answers 400.
    """

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        if direction == "request" and not field.allow_blank and schema.get("type") == "string":
            schema["minLength"] = max(schema.get("minLength", 0), 1)
            has_pattern = any(isinstance(validator, RegexValidator) for validator in field.validators)
            if field.trim_whitespace and not has_pattern and "format" not in schema and "enum" not in schema:
                schema["pattern"] = r"\S"  # at least one character that is not a space
        return schema


IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    # The constraints ApiView.idempotency() enforces, so that a client (or a fuzzer) knows them.
    type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN},
    description=(
        "Makes a retry safe: the same key with the same body returns the first answer (with the header "
        "`Idempotent-Replayed: true`) and stores nothing new; the same key with another body is a 409. "
        "Keys are per API key (or user), at most 255 characters."
    ),
)


def _error(description: str, error_type: str, message: str, errors: dict | None = None) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(
                error_type, value={"type": error_type, "message": message, "errors": errors or {}}, response_only=True
            )
        ],
    )


E400 = _error(
    "Invalid input or malformed JSON.",
    "validation_error",
    "Some fields are invalid: email.",
    {"email": ["Enter a valid email address."]},
)
E401 = _error("No credentials, or an invalid or revoked key.", "authentication_failed", "Invalid or revoked API key.")
E403 = _error(
    "The key lacks the scope, or the person the role.", "permission_denied", "This API key lacks the `read` scope."
)
E404 = _error("No such lead.", "not_found", "No such lead.")
E409_MOVE = _error(
    "A refused move or a taken claim.", "already_claimed", "Already claimed by Ann Rep at 2026-01-31 09:12 UTC."
)
E409_IDEMPOTENCY = _error(
    "The Idempotency-Key was used with another body.",
    "idempotency_key_reused",
    "This Idempotency-Key was already used with a different request body.",
)
E413 = _error("The body is over the size limit.", "payload_too_large", "The request body is larger than 2621440 bytes.")
E415 = _error("The body is not JSON.", "unsupported_media_type", 'Unsupported media type "text/plain" in request.')
E429 = _error(
    "Too many requests for this key; see the Retry-After header (seconds).",
    "rate_limited",
    "Request was throttled. Expected available in 12 seconds.",
)
E503 = _error(
    "The database is unavailable; nothing was stored. See Retry-After.",
    "service_unavailable",
    "The database is unavailable; nothing was stored. Retry later.",
)

READ_ERRORS = {401: E401, 403: E403, 429: E429, 503: E503}
WRITE_ERRORS = {400: E400, 401: E401, 403: E403, 413: E413, 415: E415, 429: E429, 503: E503}


COMMON_ERRORS = {
    "401": "No credentials, or an invalid or revoked key.",
    "403": "The key lacks the scope, or the person the role.",
    "429": "Too many requests for this key; see the Retry-After header (seconds).",
    "503": "The database is unavailable; nothing was stored. See Retry-After.",
}


# What the runtime validators refuse beyond the serializer fields: unknown fields (validate_event,
# LeadPatchSerializer.validate), an event that names no lead, a PATCH that changes nothing.
REQUEST_SCHEMA_RULES = {
    "EventIn": {"additionalProperties": False, "anyOf": [{"required": ["lead_id"]}, {"required": ["email"]}]},
    "PatchedLeadPatch": {"additionalProperties": False, "minProperties": 1},
}


# Operations whose body may not be left out, though each of its fields may (a PATCH that changes nothing).
BODY_REQUIRED = {"leads_partial_update"}


def add_common_error_responses(result, generator, request, public):
    """Postprocessing hook: every /api/v1/ operation documents the errors any of them can answer.

    Authentication, permissions, the rate limit and a database outage apply to every endpoint
    alike, so they are added here once instead of in each view's extend_schema; so are the 404 of
    a path with an id and the 400 of an operation that takes input. It also writes down the
    request rules of REQUEST_SCHEMA_RULES, which no serializer field can express.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for name, rules in REQUEST_SCHEMA_RULES.items():
        if name in schemas:
            schemas[name].update(rules)
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in COMMON_ERRORS.items():
                operation["responses"].setdefault(code, {"description": description, "content": error_ref})
            if operation.get("operationId") in BODY_REQUIRED and "requestBody" in operation:
                operation["requestBody"]["required"] = True
            takes_input = "requestBody" in operation or any(
                parameter.get("in") in ("query", "header") for parameter in operation.get("parameters", [])
            )
            if takes_input:
                operation["responses"].setdefault(
                    "400", {"description": "Invalid input: the errors name the fields.", "content": error_ref}
                )
            if "{" in path:
                # An id that names nothing, or is not a number at all, is a 404 on every such path.
                operation["responses"].setdefault(
                    "404", {"description": "No such object, or an id that is not a number.", "content": error_ref}
                )
    return result

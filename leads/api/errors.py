"""One JSON shape for every API error, and the one place where domain errors become HTTP.

Every error body is {"type": "...", "message": "...", "errors": {field: [messages]}}; `errors` is
empty unless the error is about particular fields ("non_field_errors" for the body as a whole).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import AlreadyClaimed, LeadError, NotPermitted, ReasonRequired, Suppressed, TransitionNotAllowed
from ..models import Lead

logger = logging.getLogger(__name__)

# How long a client should wait before retrying when the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class IdempotencyConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This Idempotency-Key was already used with a different request body."
    default_code = "idempotency_key_reused"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; nothing was stored. Retry later."
    default_code = "service_unavailable"


# Domain errors: (HTTP status, field the message belongs to, if any).
DOMAIN_ERRORS: dict[type[LeadError], tuple[int, str | None]] = {
    TransitionNotAllowed: (status.HTTP_409_CONFLICT, None),
    AlreadyClaimed: (status.HTTP_409_CONFLICT, None),
    ReasonRequired: (status.HTTP_400_BAD_REQUEST, "reason"),
    NotPermitted: (status.HTTP_403_FORBIDDEN, None),
    Suppressed: (status.HTTP_400_BAD_REQUEST, "email"),
}

# The `type` of each DRF error, stable for clients to branch on.
DRF_ERROR_TYPES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "validation_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def error_body(error_type: str, message: str, errors: dict | None = None) -> dict:
    return {"type": error_type, "message": message, "errors": errors or {}}


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error details as {field: [messages]}, nested paths joined with dots."""
    if isinstance(detail, dict):
        result: dict[str, list[str]] = {}
        for field, value in detail.items():
            for sub, messages in _flatten(value).items():
                key = field if sub == "non_field_errors" else f"{field}.{sub}"
                result.setdefault(key, []).extend(messages)
        return result
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {"non_field_errors": [str(item) for item in detail]}
        result = {}
        for index, item in enumerate(detail):
            for sub, messages in _flatten(item).items():
                key = str(index) if sub == "non_field_errors" else f"{index}.{sub}"
                result.setdefault(key, []).extend(messages)
        return result
    return {"non_field_errors": [str(detail)]}


def _validation_message(errors: dict[str, list[str]]) -> str:
    if list(errors) == ["non_field_errors"]:
        return errors["non_field_errors"][0]
    return "Some fields are invalid: " + ", ".join(sorted(errors)) + "."


# The largest id a row can have (a signed 64-bit integer). A larger number in a URL names nothing,
# and handing it to the database fails (SQLite: OverflowError; PostgreSQL: out of range), so it is
# answered as the 404 it is before any query.
MAX_ROW_ID = 2**63 - 1


def check_url_ids(url_kwargs: dict) -> None:
    """404 for an id in the URL that no row can have."""
    if any(isinstance(value, int) and not 0 <= value <= MAX_ROW_ID for value in url_kwargs.values()):
        raise exceptions.NotFound("Not found.")


# SQLSTATEs that mean "the database cannot serve now", not "this statement is wrong":
# connection exceptions (08), shutdown and recovery (57P0x), too many connections (53300).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg raises connection failures without a SQLSTATE; SQLite only a message.
        message = str(exc).lower()
        return (cause is not None and type(cause).__module__.startswith("psycopg")) or "database is locked" in message
    return sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES


def api_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error the API raises leaves through here."""
    if isinstance(exc, LeadError):
        status_code, field = DOMAIN_ERRORS.get(type(exc), (status.HTTP_409_CONFLICT, None))
        errors = {field: [exc.message]} if field else {}
        return Response(error_body(exc.code, exc.message, errors), status=status_code)
    if isinstance(exc, Lead.DoesNotExist | Http404):
        exc = exceptions.NotFound("No such lead." if isinstance(exc, Lead.DoesNotExist) else "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif is_database_unavailable(exc):
        # The database is down or restarting: the transaction was rolled back, so nothing was
        # half-written; tell the client to retry instead of answering 500.
        logger.warning("Database unavailable: %s", exc)
        response = Response(
            error_body("service_unavailable", ServiceUnavailable.default_detail),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    elif isinstance(exc, DatabaseError):
        return None  # a bug, not bad input: let it be a 500 and reach the error log

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        response.data = error_body("validation_error", _validation_message(errors), errors)
        return response
    error_type = getattr(exc, "default_code", None) or "error"
    for exc_class, name in DRF_ERROR_TYPES.items():
        if isinstance(exc, exc_class):
            error_type = name
            break
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    message = str(detail) if not isinstance(detail, dict | list) else _validation_message(_flatten(detail))
    # A value the database cannot store (leads.api.parsers.UnstorableInput) names its field.
    field = getattr(exc, "field", None)
    response.data = error_body(error_type, message, {field: [message]} if field else None)
    return response


@csrf_exempt  # otherwise a POST to an unknown URL gets the CSRF failure page (an HTML 403), not this 404
def not_found_view(request, *args, **kwargs):
    """An unknown URL under /api/ (or a known one with an id that is not a number) answers in the
    API's error shape, not the site's HTML 404."""
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)

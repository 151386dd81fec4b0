"""The project's own middlewares: DatabaseUnavailableMiddleware, CSPMiddleware and
MethodNotAllowedPageMiddleware (below).

The database is down or restarting: answer 503 with Retry-After, never a 500. DRF views already
turn a lost database into a JSON 503 (leads.api.errors). Everything else that reaches PostgreSQL
(browser views, the session and auth middlewares, axes, template context processors) would raise
OperationalError and answer 500, which tells the client "bug, do not retry". This middleware,
first in MIDDLEWARE, answers those requests with 503 and Retry-After: the API's JSON error body
under /api/, a plain page elsewhere. The transaction (if any) was rolled back, and the connection
is discarded at the end of the request (CONN_HEALTH_CHECKS checks the next one), so the app serves
again on its own once the database is back.
"""

import functools
import logging
import sys

from csp import middleware as csp_middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import got_request_exception, setting_changed
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from leads.api.errors import DATABASE_RETRY_AFTER_SECONDS, ServiceUnavailable, error_body, is_database_unavailable

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def database_unavailable_response(request) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        response = JsonResponse(error_body("service_unavailable", ServiceUnavailable.default_detail), status=503)
    else:
        # Rendered without the request: context processors would query the database again.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _note_database_unavailable(sender, request=None, **kwargs) -> None:
    """An exception Django turned into a 500 outside a view (a middleware saving the session, say):
    remember whether it was the database, for the middleware to answer 503 instead."""
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        request.database_unavailable = True


got_request_exception.connect(_note_database_unavailable, dispatch_uid="leadcrm.database_unavailable")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, "database_unavailable", False):
            unavailable = database_unavailable_response(request)
            for header, value in response.items():  # the security headers set on the way out
                if header.lower() not in {"content-type", "content-length", "cache-control"}:
                    unavailable.setdefault(header, value)
            return unavailable
        return response

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            logger.warning("Database unavailable (%s %s): %s", request.method, request.path, exception)
            return database_unavailable_response(request)
        return None


# Where a view's decorators (csp_update, csp_replace, csp_override) put a policy of its own.
_RESPONSE_POLICY_ATTRIBUTES = ("_csp_config", "_csp_update", "_csp_replace")
_RESPONSE_POLICY_ATTRIBUTES += tuple(f"{name}_ro" for name in _RESPONSE_POLICY_ATTRIBUTES)


@functools.cache
def _settings_policies() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(header, policy, exempting attribute, excluded path prefixes) of each policy the settings
    define, as django-csp builds them for a response without a policy of its own."""
    policies = []
    for header, setting, exempt, report_only in (
        (HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt", False),
        (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro", True),
    ):
        policy = build_policy(report_only=report_only)
        if policy:
            excluded = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            policies.append((header, policy, exempt, tuple(excluded)))
    return tuple(policies)


def _forget_settings_policies(setting, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _settings_policies.cache_clear()


setting_changed.connect(_forget_settings_policies, dispatch_uid="leadcrm.csp_settings_policies")


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware, with the policy from the settings built once per process.

    django-csp builds the header from the settings on every response (~8% of an API request's
    CPU). A response without a policy of its own (no csp_update & co. on its view), to a request
    that used no nonce, always gets that same header; it is built once, and again when the
    settings change. Everything else goes through django-csp unchanged.
    """

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _RESPONSE_POLICY_ATTRIBUTES
        ):
            return super().process_response(request, response)
        if response.status_code in (404, 500) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        for header, policy, exempt, excluded in _settings_policies():
            applies = not getattr(response, exempt, False) and not request.path_info.startswith(excluded)
            if applies and header not in response:
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error, not a
        # nonce silently missing from the policy.
        request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response


class MethodNotAllowedPageMiddleware:
    """A browser that opens an action's address (a require_POST view) gets a page, not a blank one.

    Django's require_POST answers a GET with an empty 405. That is right for a client, but a person
    who follows a shared link or reloads after a failed form sees a white page. Outside the API
    (which answers in JSON), an empty 405 gets 405.html; status and Allow header stay as they are.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not response.content and not request.path.startswith(API_PREFIX):
            response.content = render_to_string("405.html")
            response["Content-Type"] = "text/html; charset=utf-8"
        return response

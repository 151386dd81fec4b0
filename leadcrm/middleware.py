"""The database is down or restarting: answer 503 with Retry-After, never a 500.

DRF views already turn a lost database into a JSON 503 (leads.api.errors). Everything else that
reaches PostgreSQL (browser views, the session and auth middlewares, axes, template context
processors) would raise OperationalError and answer 500, which tells the client "bug, do not
retry". This middleware, first in MIDDLEWARE, answers those requests with 503 and Retry-After:
the API's JSON error body under /api/, a plain page elsewhere. The transaction (if any) was rolled
back, and the connection is discarded at the end of the request (CONN_HEALTH_CHECKS checks the
next one), so the app serves again on its own once the database is back.
"""

import logging
import sys

from django.core.signals import got_request_exception
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

"""Content negotiation for the API, which renders JSON only.

DRF's default negotiation parses the Accept header on every request; most clients send none, or
`*/*` or `application/json`, for which the answer is always the JSON renderer. Those skip the
parsing; anything else (a `?format=`, a list of types, an unacceptable type: 406) goes through
DRF's negotiation unchanged.
"""

from rest_framework.negotiation import DefaultContentNegotiation

ANY_OR_JSON = frozenset({"", "*/*", "application/json"})


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        first = renderers[0] if renderers else None
        if (
            first is not None
            and first.media_type == "application/json"
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in ANY_OR_JSON
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)

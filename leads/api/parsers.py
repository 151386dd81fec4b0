"""The API's JSON parser: a size limit (413) and no values PostgreSQL cannot store."""

import json
import re

from django.conf import settings
from rest_framework import exceptions, parsers

from .errors import PayloadTooLarge

# A JSON escape of NUL (preceded by an even number of backslashes, so not the text "\\u0000"):
# PostgreSQL stores neither NUL in text nor \u0000 in jsonb, so it is refused as bad input
# instead of failing as a database error.
JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# Escapes of UTF-16 surrogates: valid JSON, but a lone one cannot be encoded as UTF-8.
JSON_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", 2_621_440)


class LimitedJSONParser(parsers.JSONParser):
    """JSON only, at most API_MAX_BODY_BYTES, strict (no NaN), NUL and lone surrogates refused."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        if request is not None:
            request.raw_body = body  # the Idempotency-Key check hashes the body as received
        # The substring test first: the regular expression alone costs ~18 ms on a 1,000-event batch.
        if b"\\u0000" in body and JSON_NUL_ESCAPE.search(body):
            raise exceptions.ParseError("JSON parse error - the NUL character (\\u0000) is not accepted.")
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if JSON_SURROGATE_ESCAPE.search(body):
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise exceptions.ParseError("JSON parse error - lone UTF-16 surrogates are not accepted.") from None
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")

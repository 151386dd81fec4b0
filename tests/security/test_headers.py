"""The Content-Security-Policy is on in development too, and no template needs it relaxed.

Production's headers and cookies are proved in tests/test_settings.py (DEBUG=0 in a fresh
process); the browser test in tests/browser/test_csp.py loads the pages and fails on a violation.
"""

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
# An inline script: a <script> element without src (JSON data blocks would be fine, none exist).
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
# An inline event handler (onclick=, onchange=, ...) or a javascript: URL.
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def our_templates() -> list[Path]:
    # templates/admin/ only overrides blocks of Django's admin, whose own templates need no inline script.
    return sorted(path for path in TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", our_templates(), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_has_an_inline_script_or_event_handler(path):
    text = path.read_text()
    assert not INLINE_SCRIPT.search(text), "move the script to static/js/ (the CSP refuses inline scripts)"
    assert not INLINE_HANDLER.search(text), "bind the handler in static/js/ (the CSP refuses inline handlers)"


def test_the_policy_is_sent_in_development(client, db):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy + ";"
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_only_the_api_docs_page_may_load_swagger_from_its_cdn(client, db):
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "script-src 'self' https://cdn.jsdelivr.net" in docs["Content-Security-Policy"]
    assert b"<script>" not in docs.content  # its start-up script is served from our origin
    assert client.get("/api/docs/?script")["Content-Type"].startswith("application/javascript")
    assert "cdn.jsdelivr.net" not in client.get("/login/")["Content-Security-Policy"]


def test_a_changed_policy_setting_is_sent_from_the_next_response(client, db, settings):
    # The settings' policy is built once per process (leadcrm.middleware.CSPMiddleware): a change
    # of the setting must still reach the very next response, an API response included.
    assert "report-uri" not in client.get("/login/")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/csp-report/"}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    login = client.get("/login/")
    assert login["Content-Security-Policy"] == "default-src 'self'; report-uri /csp-report/"
    assert login["Content-Security-Policy-Report-Only"] == "default-src 'none'"
    api = client.get("/api/v1/pipeline/")
    assert api["Content-Security-Policy"] == "default-src 'self'; report-uri /csp-report/"

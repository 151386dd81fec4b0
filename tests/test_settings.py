"""Production mode: the settings refuse a missing or weak SECRET_KEY and pass Django's deploy checks.

Each case runs `manage.py check` in a fresh process, because settings are read once at start-up.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
STRONG_KEY = "k7#Qv9zL!p2Xw@4mR8sT$1nB6yF0hJ3cE5gA^uD*oK&iW(eZ)xV-qN+tY=rM_lP"


# Variables this test sets itself, and DJANGO_ALLOW_ASYNC_UNSAFE, which the browser tests put in
# this process's environment for Playwright and which check --deploy rightly rejects.
NOT_INHERITED = {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def manage_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "secret_key",
    [
        pytest.param(None, id="unset"),
        pytest.param("", id="empty"),
        pytest.param("short-but-not-empty", id="too-short"),
        pytest.param("django-insecure-" + "x" * 60, id="django-insecure-prefix"),
    ],
)
def test_it_refuses_to_start_without_a_strong_secret_key_when_debug_is_off(secret_key):
    env = {"DEBUG": "0", "ALLOWED_HOSTS": "leadcrm.example.com"}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    result = manage_check(**env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off" in result.stderr


def test_it_passes_the_deploy_checks_with_a_strong_key_and_allowed_hosts():
    result = manage_check(
        "--deploy", "--fail-level", "WARNING", DEBUG="0", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="leadcrm.example.com"
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_starts_in_development_mode_with_nothing_set():
    result = manage_check()

    assert result.returncode == 0, result.stderr


# Run in the production process: an HTTPS request (as the proxy forwards it) and a plain-HTTP one.
PRODUCTION_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
from django.test.utils import setup_test_environment
setup_test_environment()
# The manifest storage needs collectstatic; the static file names are not what this probes.
plain = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=plain):
    https = Client(HTTP_X_FORWARDED_PROTO="https").get("/login/")
    http = Client().get("/login/")
csrf = https.cookies["csrftoken"]
print(json.dumps({
    "https_status": https.status_code,
    "http_status": http.status_code,
    "http_location": http.get("Location", ""),
    "headers": {name: https.get(name, "") for name in (
        "Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
        "Referrer-Policy", "Cross-Origin-Opener-Policy", "X-Frame-Options")},
    "csrf_cookie": {"secure": bool(csrf["secure"]), "httponly": bool(csrf["httponly"]), "samesite": csrf["samesite"]},
    "session_cookie": {"secure": settings.SESSION_COOKIE_SECURE, "httponly": settings.SESSION_COOKIE_HTTPONLY,
                       "samesite": settings.SESSION_COOKIE_SAMESITE},
}))
"""


@pytest.fixture(scope="module")
def production_answer() -> dict:
    clean = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    env = {**clean, "DEBUG": "0", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "testserver"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_plain_http_to_https_and_trusts_the_proxys_header(production_answer):
    assert production_answer["http_status"] == 301
    assert production_answer["http_location"].startswith("https://testserver/login/")
    assert production_answer["https_status"] == 200  # X-Forwarded-Proto: https is taken as HTTPS


def test_production_sends_the_security_headers(production_answer):
    headers = production_answer["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    policy = dict([*directive.split(" ", 1), ""][:2] for directive in headers["Content-Security-Policy"].split("; "))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def test_production_cookies_are_secure_httponly_and_same_site(production_answer):
    assert production_answer["csrf_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert production_answer["session_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}

"""Production mode: the settings refuse a missing or weak SECRET_KEY and pass Django's deploy checks.

Each case runs `manage.py check` in a fresh process, because settings are read once at start-up.
"""

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

"""LeadCRM settings: one module, read from the environment.

With nothing set, LeadCRM runs on SQLite under var/ with Celery tasks executed in-process,
DEBUG on and a development secret key. DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG and
ALLOWED_HOSTS switch it to a real deployment.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LEADCRM_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEBUG = env_bool("DEBUG", True)

DEV_SECRET_KEY = "django-insecure-leadcrm-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (
    not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 50
):
    # Production must never run on a guessable key: refuse to start instead.
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "axes",
    "csp",
    "leads",
    "scoring",
]

MIDDLEWARE = [
    # First, so that a lost database anywhere below answers 503 + Retry-After, not 500.
    "leadcrm.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "leadcrm.middleware.CSPMiddleware",  # django-csp's, with the settings' policy built once
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "leadcrm.middleware.MethodNotAllowedPageMiddleware",  # a page, not a blank 405, for a browser
]

ROOT_URLCONF = "leadcrm.urls"
WSGI_APPLICATION = "leadcrm.wsgi.application"
ASGI_APPLICATION = "leadcrm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "leads.context_processors.navigation",
                "leads.sales_views.notifications_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'leadcrm.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # A kept connection is checked before a request uses it. Where a request starts with a read
        # (the API key, the session), that read is the check itself: leads.db.read_rows.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django turns psycopg's prepared statements off (prepare_threshold None) for poolers' sake.
    # Its own cursors bind client-side and never prepare whatever this says; the threshold only
    # lets the server-side-binding cursors of leads.db prepare the API's hot statements.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the zero-configuration default: WAL and a busy timeout let the dev server,
    # the in-process tasks and the tests share one file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours: a locked-out username and address may try again after 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"  # in the product's layout, not a bare text page

# --- I18N / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# WhiteNoise warns on every request while the folder is missing (before the first collectstatic).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production) ------------------------------------------------------------------
# gunicorn sits behind a TLS-terminating proxy (docker-compose.yml) that sets X-Forwarded-Proto;
# the proxy must overwrite the header a client sends, or a client could claim HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read with a plain statement (leadcrm/sessions.py).
SESSION_ENGINE = "leadcrm.sessions"
# No script reads the CSRF cookie: htmx gets the token from the page (base.html, hx-headers).
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp), in development too, so the browser tests see a violation
# before production does. Scripts and style sheets come only from our origin: no inline <script>,
# no onclick=..., no eval (htmx's allowEval is off in static/js/app.js, and its indicator style
# lives in app.css instead of an injected <style>). Inline style *attributes* stay allowed: the
# bar charts and progress bars set their width with style="width: N%"; an attribute can run no
# script, and any url() in it is still bound by img-src.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a request without credentials gets 401 with WWW-Authenticate: Bearer.
        "leads.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "leads.api.errors.api_exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Per API key (or user, or address): "<n>/<second|minute|hour>". Counted in the cache below.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "6000/minute")
API_RATE_LIMIT_CACHE = "default"
# A batch of 1,000 events with modest properties is well under this.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 2_621_440)
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadCRM API",
    "DESCRIPTION": "Form submissions, engagement events and the lead pipeline.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "leads.api.schema.add_common_error_responses",
    ],
    # One name per choice set: stages and teams appear in many components.
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "leads.stages.STAGE_CHOICES",
        "TeamEnum": "leads.models.Team",
        "HandoffKindEnum": "leads.models.HandoffKind",
        "HandoffStatusEnum": "leads.models.HandoffStatus",
    },
}

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # No broker configured: run tasks in-process so a fresh clone works with nothing installed.
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A killed worker must not lose its task: acknowledge after the work is done (a task a SIGKILLed
# worker was running stays unacknowledged in Redis), requeue at once when only a pool process dies,
# and take one message at a time so a dying worker holds as few as possible.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged message to another worker after the visibility timeout, so it
# must outlast the longest task and the longest countdown, or a task still running (or waiting
# for its ETA in a worker) runs twice. The longest task is a 500,000-row import (about 2.5 minutes
# measured in bench/README.md; allow 10x under load); the longest countdown is a webhook retry
# (WEBHOOK_BACKOFF_MAX_SECONDS, 1 hour). Hence 75 minutes. Scoring does not wait for it: a drain
# yields after 20 s, and the leads a lost drain was scoring are still marked stale in PostgreSQL,
# so the beat sweeper (every SCORING_SWEEP_SECONDS) scores them; a lost scoring task costs nothing.
#
# The broker may be down: publishing happens after a commit, inside a web request, and must fail
# within about 2 seconds instead of hanging the request (kombu's default is to retry a lost
# connection for many seconds). Callers catch the error and log it; a sweeper redoes the work.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 75 * 60,
    "max_retries": 1,  # connection attempts when a producer's connection is gone
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": 2,
    "socket_timeout": 10,  # longer than the worker's 1 s BRPOP poll
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# The worker and beat themselves keep retrying the broker until it is back (without limit).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# No remote control (celery inspect / control): with it, a worker that holds an unacknowledged task
# when Redis drops exits instead of reconnecting (Celery/kombu 5.7: its pub/sub control connection
# notices the drop first, and closing the channel then fails in restore_unacked with
# "AttributeError: 'NoneType' object has no attribute 'hostname'"). Without it the worker waits for
# Redis and goes on (tests/faults/test_worker_reconnects.py). Nothing here uses remote control: the
# worker's health check is its process and its broker (docker-compose.yml).
CELERY_WORKER_ENABLE_REMOTE_CONTROL = env_bool("CELERY_WORKER_REMOTE_CONTROL", False)
CELERY_TIMEZONE = TIME_ZONE
# How much a Celery worker lowers its CPU priority at start (os.nice; 0 leaves it as started): web
# requests first when the machine is busy, background work with what is left (leadcrm/celery.py).
WORKER_NICE = env_int("WORKER_NICE", 10)
# Tasks outside an app's tasks.py (autodiscover finds only those).
CELERY_IMPORTS = ["leads.data_tasks"]
CELERY_BEAT_SCHEDULE: dict = {
    # Outgoing webhooks whose retry task was lost, or that a killed worker left half sent.
    "webhooks-sweep": {"task": "leads.data_tasks.webhook_deliveries_sweep_task", "schedule": 60.0},
    # CSV imports whose task was lost (broker down when started, worker killed): queued again once
    # silent for leads.imports.STALLED_AFTER (5 minutes).
    "imports-sweep": {
        "task": "leads.data_tasks.import_jobs_sweep_task",
        "schedule": float(env_int("IMPORT_SWEEP_SECONDS", 60)),
    },
    # The safety net of scoring: leads whose nudge was lost (broker down, worker killed) are
    # still marked stale in PostgreSQL; the sweeper scores them and restarts stalled rescores.
    "scoring-sweep-stale": {
        "task": "scoring.tasks.sweep_stale_scores_task",
        "schedule": float(env_int("SCORING_SWEEP_SECONDS", 10)),
    },
    # Engagement decays with time even without new events: rescore once a day, off-peak.
    "scoring-decay-refresh": {"task": "scoring.tasks.decay_refresh_task", "schedule": crontab(hour=3, minute=17)},
    # Handoffs past their SLA: mark, notify the sales team, offer to the next rep (idempotent).
    "handoffs-sla-sweep": {
        "task": "leads.tasks.handoff_sla_sweep_task",
        "schedule": float(env_int("SLA_SWEEP_SECONDS", 60)),
    },
    # Bulk move jobs not done whose run is gone (killed worker, task out of retries, lost message).
    "bulk-move-jobs-sweep": {
        "task": "leads.tasks.bulk_move_jobs_sweep_task",
        "schedule": float(env_int("BULK_SWEEP_SECONDS", 60)),
    },
}

# --- Data in and out (issue 7) ---------------------------------------------------------------
# Outgoing webhooks: retry after base * 2^(attempt-1) seconds (capped), give up after the last
# attempt; an endpoint whose attempts failed this many times in a row is paused.
WEBHOOK_BACKOFF_BASE_SECONDS = float(os.environ.get("WEBHOOK_BACKOFF_BASE_SECONDS", "30"))
WEBHOOK_BACKOFF_MAX_SECONDS = 3600
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_PAUSE_AFTER_FAILURES = env_int("WEBHOOK_PAUSE_AFTER_FAILURES", 20)
WEBHOOK_TIMEOUT_SECONDS = 10
# Erasure: True puts the erased email on a suppression list (as a keyed hash) and refuses later
# submissions and imports with it; False lets the person come back as a new lead.
PRIVACY_SUPPRESS_ERASED = env_bool("PRIVACY_SUPPRESS_ERASED", True)

# --- Email ----------------------------------------------------------------------------------
# Notifications (SLA breaches) go out through Django's email backend: the console by default.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "LeadCRM <leadcrm@localhost>")
# The address links in emails point at.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

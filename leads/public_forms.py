"""Web forms: a plain HTML form on any website posts leads to LeadCRM with a form-scoped public key.

The key is an ApiKey with the `submit` scope and a `form_name`: leads.api.permissions already lets
such a key post submissions for its own form and nothing else (no read, no move, no other form), so
a leaked key (it is printed in every visitor's page, by design) allows spam and no more.

Only the key's hash is stored, like every ApiKey; the forms page must still show the key whenever a
marketer wants the snippet again, so a public key is not random but derived from its prefix with an
HMAC of SECRET_KEY. Anyone holding SECRET_KEY could derive it, which costs nothing (it is public),
while the derivation never reveals anything about SECRET_KEY. A key whose hash no longer matches its
derivation (SECRET_KEY changed, or an admin made a private form key) is not offered as a snippet.

A submission goes through leads.ingest.submission_ingest like the JSON API's, so deduplication by
email, the suppression list, the scoring nudge and the per-key rate limit all apply.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac

from . import ingest
from .api.auth import KEY_PREFIX, api_key_create, api_key_lookup, api_key_touch, hash_key
from .api.serializers import validate_submission
from .api.throttling import _count, parse_rate
from .audit import audit_record
from .exceptions import Suppressed
from .models import ApiKey, AuditAction

FORM_KEY_FIELD = "form_key"
THANK_YOU_FIELD = "thank_you"
# A bot fills every field it sees; a person never sees this one (hidden with CSS in the snippet).
HONEYPOT_FIELD = "website"
CONTROL_FIELDS = frozenset({FORM_KEY_FIELD, THANK_YOU_FIELD, HONEYPOT_FIELD, "csrfmiddlewaretoken"})
LEAD_FIELDS = frozenset({*ingest.LEAD_WRITABLE_FIELDS, "email", "consent"})
MAX_EXTRA_FIELDS = 30
# A contact form is a few hundred bytes; refuse big bodies (a file in a multipart post) unread.
MAX_BODY_BYTES = 64 * 1024
MAX_EXTRA_LENGTH = 2000
# Per form and per visitor address: a public key must not let one spammer use up the form's budget.
DEFAULT_RATE = "20/minute"

FIELD_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "company_domain": "Company website",
    "job_title": "Job title",
    "phone": "Phone",
    "country": "Country",
    "industry": "Industry",
    "company_size": "Company size",
    "consent": "Consent",
    "page_url": "Page",
    "fields": "Other fields",
}

# The fields the snippet offers, in order: (name, label, input type, autocomplete, required).
SNIPPET_FIELDS = [
    ("email", "Work email", "email", "email", True),
    ("first_name", "First name", "text", "given-name", False),
    ("last_name", "Last name", "text", "family-name", False),
    ("company", "Company", "text", "organization", False),
    ("job_title", "Job title", "text", "organization-title", False),
    ("phone", "Phone", "tel", "tel", False),
]

_http_url = URLValidator(schemes=["http", "https"])


def derive_public_key(prefix: str) -> str:
    digest = salted_hmac("leadcrm.public-form-key", prefix, algorithm="sha256").digest()
    return f"{prefix}_{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def is_public_form_key(api_key: ApiKey) -> bool:
    return bool(api_key.form_name) and api_key.key_hash == hash_key(derive_public_key(api_key.prefix))


# ---- Keys (writes) ---------------------------------------------------------------------------


def _key_create(*, form_name: str, created_by) -> ApiKey:
    # A submit-only key of this one form, its secret derived from its random prefix (the page shows
    # the snippet again without storing the secret); a prefix clash raises IntegrityError and the
    # caller's transaction rolls back.
    return api_key_create(
        name=f"Web form: {form_name}"[:100],
        scopes=[ApiKey.Scope.SUBMIT.value],
        form_name=form_name,
        created_by=created_by,
        secret_for=derive_public_key,
    ).api_key


def _keys_revoke(keys: list[ApiKey], *, actor=None) -> int:
    """Revoke a form's public keys (audited one by one, in the caller's transaction)."""
    revoked = ApiKey.objects.filter(pk__in=[key.pk for key in keys], revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    for key in keys:
        audit_record(
            action=AuditAction.API_KEY_REVOKED,
            actor=actor,
            target_type="api_key",
            target_id=key.pk,
            detail={"prefix": key.prefix, "form": key.form_name},
        )
    return revoked


def _active_public_keys(form_name: str):
    return [
        key
        for key in ApiKey.objects.select_for_update().filter(
            form_name=form_name, revoked_at__isnull=True, user__isnull=True
        )
        if is_public_form_key(key)
    ]


def public_form_key_create(*, form_name: str, created_by) -> ApiKey:
    """The form's public key: the active one if it has one, else a new one (never two at once)."""
    with transaction.atomic():
        active = _active_public_keys(form_name)
        return active[0] if active else _key_create(form_name=form_name, created_by=created_by)


def public_form_key_rotate(*, form_name: str, created_by) -> ApiKey:
    """A new key for the form; the old one stops working at once (the pasted snippet must be replaced)."""
    with transaction.atomic():
        _keys_revoke(_active_public_keys(form_name), actor=created_by)
        return _key_create(form_name=form_name, created_by=created_by)


def public_form_key_disable(*, form_name: str, actor=None) -> int:
    """Stop the form's public key: websites posting with it get a refusal page. Returns how many."""
    with transaction.atomic():
        return _keys_revoke(_active_public_keys(form_name), actor=actor)


# ---- Keys and snippets (reads) ---------------------------------------------------------------


def public_form_keys() -> dict[str, ApiKey]:
    """The active public key of each form that has one, by form name. One query."""
    keys = ApiKey.objects.filter(form_name__gt="", revoked_at__isnull=True, user__isnull=True).order_by("created_at")
    return {key.form_name: key for key in keys if is_public_form_key(key)}


def thank_you_token(*, api_key: ApiKey, url: str) -> str:
    """The thank-you URL as the snippet carries it: signed for this key, so a copied form cannot
    turn LeadCRM into a redirector to a site the marketer never chose."""
    return signing.dumps(url, salt=f"leadcrm.public-form-thanks:{api_key.prefix}")


def thank_you_url(*, api_key: ApiKey, token: str) -> str:
    """The signed thank-you URL, or "" (built-in page) when it is missing, altered or not http(s)."""
    if not token:
        return ""
    try:
        url = signing.loads(token, salt=f"leadcrm.public-form-thanks:{api_key.prefix}")
        _http_url(url)
    except (signing.BadSignature, DjangoValidationError, TypeError):
        return ""
    return url


def snippet_html(*, api_key: ApiKey, action_url: str, thank_you: str = "") -> str:
    """The copy-paste HTML form for a website: the fields with labels, the key, the honeypot."""
    return render_to_string(
        "leads/public_form_snippet.html",
        {
            "action_url": action_url,
            "form_name": api_key.form_name,
            "key": derive_public_key(api_key.prefix),
            "key_field": FORM_KEY_FIELD,
            "thank_you_field": THANK_YOU_FIELD,
            "thank_you_token": thank_you_token(api_key=api_key, url=thank_you) if thank_you else "",
            "honeypot_field": HONEYPOT_FIELD,
            "fields": SNIPPET_FIELDS,
        },
    ).strip()


# ---- Submitting (the public endpoint) --------------------------------------------------------


class FormRefused(Exception):
    """The post cannot be taken: shown to the visitor as a page (status, title, reasons)."""

    def __init__(
        self,
        status: int,
        title: str,
        errors: list[tuple[str, str]] | None = None,
        *,
        message: str = "",
        retry_after: int | None = None,
    ):
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = errors or []
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class FormPosted:
    redirect_to: str  # the signed thank-you URL, or "" for the built-in page
    stored: bool  # False for a bot caught by the honeypot
    lead_id: int | None = None


def form_key_check(raw_key: str) -> ApiKey:
    api_key = api_key_lookup(raw_key.strip()) if raw_key.strip().startswith(KEY_PREFIX) else None
    if api_key is None or not api_key.form_name or api_key.scopes != [ApiKey.Scope.SUBMIT.value]:
        # A revoked key looks like an unknown one: the page never says which keys exist.
        raise FormRefused(
            403,
            "This form is not accepting submissions",
            message="Nothing was sent. The form on this website may be out of date: please tell its owner.",
        )
    api_key_touch(api_key)
    return api_key


def size_check(content_length: str | None) -> None:
    try:
        size = int(content_length or 0)
    except ValueError:
        size = 0
    if size > MAX_BODY_BYTES:
        raise FormRefused(
            413,
            "This form is too large",
            message=f"Nothing was sent: a form may carry at most {MAX_BODY_BYTES // 1024} KB, files not included.",
        )


def rate_check(*, api_key: ApiKey, address: str) -> None:
    limit, period = parse_rate(getattr(settings, "PUBLIC_FORM_RATE_LIMIT", DEFAULT_RATE))
    now = time.time()
    window = int(now // period)
    try:
        used = _count(f"leadcrm:form-rate:{api_key.prefix}:{address}:{window}", period + 1)
    except Exception:  # fail open, like the API's limiter: it protects the service, never stops it
        return
    if used > limit:
        retry_after = max(1, int((window + 1) * period - now + 0.999))
        raise FormRefused(
            429,
            "Too many submissions from this address",
            message=f"Nothing was sent. Please wait {retry_after} seconds, then send the form again.",
            retry_after=retry_after,
        )


def _raw_submission(post, api_key: ApiKey, page_url: str) -> tuple[dict, list[tuple[str, str]]]:
    raw: dict = {"form_name": api_key.form_name, "page_url": page_url}
    extra: dict = {}
    errors: list[tuple[str, str]] = []
    for name in post:
        if name in CONTROL_FIELDS:
            continue
        values = post.getlist(name)
        if name in LEAD_FIELDS:
            raw[name] = values[-1]
            continue
        value = values[0] if len(values) == 1 else values
        if sum(len(v) for v in values) > MAX_EXTRA_LENGTH:
            errors.append((name, f"At most {MAX_EXTRA_LENGTH} characters."))
        extra[name] = value
    if len(extra) > MAX_EXTRA_FIELDS:
        errors.append(("fields", f"At most {MAX_EXTRA_FIELDS} extra fields in one form."))
    raw["fields"] = extra
    # An unchecked checkbox sends nothing: no consent.
    raw.setdefault("consent", False)
    return raw, errors


def page_url_from(referer: str) -> str:
    """The page the form was on, when the browser said so with a plain http(s) URL."""
    if not referer or len(referer) > 2000:
        return ""
    try:
        _http_url(referer)
    except DjangoValidationError:
        return ""
    return referer


def public_form_submit(*, api_key: ApiKey, post, page_url: str) -> FormPosted:
    """Validate a form post and store it through the same ingest service as the JSON API."""
    redirect_to = thank_you_url(api_key=api_key, token=post.get(THANK_YOU_FIELD, ""))
    if post.get(HONEYPOT_FIELD, "").strip():
        # The same answer as a person gets, so the bot learns nothing; nothing is stored.
        return FormPosted(redirect_to=redirect_to, stored=False)
    raw, errors = _raw_submission(post, api_key, page_url)
    data, field_errors = validate_submission(raw)
    for name, messages in field_errors.items():
        errors.extend((name, message) for message in messages)
    if errors:
        raise FormRefused(
            400,
            "Please correct the form",
            [(FIELD_LABELS.get(name, name.replace("_", " ").capitalize()), reason) for name, reason in errors],
        )
    payload = {key: value for key, value in raw.items() if key not in {"form_name", "page_url"}}

    def work():
        result = ingest.submission_ingest(
            form_name=api_key.form_name,
            email=data["email"],
            fields={name: data.get(name) for name in ingest.LEAD_WRITABLE_FIELDS},
            consent=data["consent"],
            page_url=data["page_url"],
            submitted_at=timezone.now(),
            payload=payload,
            api_key=api_key,
            source=api_key.name[:100],
        )
        return 201, {"lead_id": result.lead_id}

    try:
        answer = ingest.write_once(work=work, single_statement=ingest.submission_is_single_statement())
    except Suppressed:
        # Not "this person asked to be forgotten": a public page must not tell who did.
        raise FormRefused(
            400, "This form could not be sent", [("Email", "This address cannot be used here.")]
        ) from None
    return FormPosted(redirect_to=redirect_to, stored=True, lead_id=answer.body["lead_id"])

"""API keys: how they are made, stored, checked and revoked, and the DRF authentication that uses them.

A key looks like `lk_<8 characters>_<secret>`. Its first part (the prefix) is stored in clear and
indexed, so a request costs one indexed lookup; the whole key is stored only as a SHA-256 hash and
compared in constant time. A fast hash is right here (unlike passwords): the secret is 32 random
bytes, so there is nothing to brute-force.
"""

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from ..audit import audit_record
from ..db import read_row
from ..models import ApiKey, AuditAction

KEY_PREFIX = "lk_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8  # "lk_" and 8 hex digits
# last_used_at is a hint for admins ("is this key still in use?"), not an audit trail: writing it
# on every request would turn each read into a write. Once a minute per key is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Names under which clients commonly put keys in a URL: refused outright, because URLs end up in
# logs, proxies and browser histories.
QUERY_STRING_KEY_NAMES = frozenset({"api_key", "apikey", "key", "token", "access_token", "auth"})


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def api_key_generate() -> tuple[str, str, str]:
    """A new key as (raw key, prefix, hash)."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    raw_key = f"{prefix}_{secrets.token_urlsafe(32)}"
    return raw_key, prefix, hash_key(raw_key)


def api_key_create(
    *,
    name: str,
    scopes: list[str],
    form_name: str = "",
    user=None,
    created_by=None,
    actor_label: str = "",
    secret_for: Callable[[str], str] | None = None,
) -> NewApiKey:
    """Create a key and return it with its raw value, which exists only in this return value.

    created_by: the admin who made it; actor_label says who it was without one (the command line).
    secret_for: derive the raw key from the new prefix instead of drawing it at random (a web
    form's public key, which the forms page must be able to show again: leads.public_forms).
    """
    valid = {scope.value for scope in ApiKey.Scope}
    unknown = sorted(set(scopes) - valid)
    if unknown:
        raise ValueError(f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(sorted(valid))}.")
    raw_key, prefix, key_hash = api_key_generate()
    if secret_for is not None:
        raw_key = secret_for(prefix)
        key_hash = hash_key(raw_key)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            scopes=sorted(set(scopes)),
            form_name=form_name,
            user=user,
            created_by=created_by,
        )
        audit_record(
            action=AuditAction.API_KEY_CREATED,
            actor=created_by,
            actor_label=actor_label,
            target_type="api_key",
            target_id=api_key.pk,
            detail={
                "prefix": prefix,
                "key_name": name[:100],
                "scopes": api_key.scopes,
                "form": form_name,
                "personal_token_of": user.get_username() if user is not None else "",
            },
        )
    return NewApiKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key_id: int, actor=None, actor_label: str = "") -> bool:
    """Revoke a key; the very next request that uses it is refused (keys are looked up on every
    request, never cached). False when it was already revoked (nothing written, nothing audited)."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            prefix = ApiKey.objects.filter(pk=api_key_id).values_list("prefix", flat=True).first()
            audit_record(
                action=AuditAction.API_KEY_REVOKED,
                actor=actor,
                actor_label=actor_label,
                target_type="api_key",
                target_id=api_key_id,
                detail={"prefix": prefix},
            )
    return bool(revoked)


def api_key_touch(api_key: ApiKey) -> None:
    """Record use at most once per LAST_USED_RESOLUTION: a conditional UPDATE, skipped when recent."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def api_key_lookup(raw_key: str) -> ApiKey | None:
    """The active key for a raw value, or None. One indexed query on the prefix."""
    prefix = raw_key[:PREFIX_LENGTH]
    if not prefix.startswith(KEY_PREFIX) or raw_key[PREFIX_LENGTH : PREFIX_LENGTH + 1] != "_":
        return None
    api_key = _api_key_by_prefix(prefix)
    if api_key is None or api_key.revoked_at is not None:
        return None
    if not hmac.compare_digest(api_key.key_hash, hash_key(raw_key)):
        return None
    return api_key


_KEY_COLUMNS = ("id", "name", "prefix", "key_hash", "scopes", "form_name", "user_id", "last_used_at", "revoked_at")


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    """Every API request runs this: a plain indexed SELECT, prepared, without the ORM's query
    compilation (which costs more CPU than the query itself). Revocation stays immediate: no cache."""
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    # As a request's first statement, it is also the connection's health check (leads.db.read_rows).
    row = read_row(f"SELECT {', '.join(_KEY_COLUMNS)} FROM {table} WHERE prefix = %s", [prefix])
    if row is None:
        return None
    values = dict(zip(_KEY_COLUMNS, row, strict=True))
    if isinstance(values["scopes"], str | bytes):
        values["scopes"] = json.loads(values["scopes"])
    for name in ("last_used_at", "revoked_at"):
        value = values[name]
        if isinstance(value, str):  # SQLite
            value = datetime.fromisoformat(value)
        if value is not None and timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)
        values[name] = value
    api_key = ApiKey(**values)
    api_key._state.adding = False
    api_key._state.db = "default"
    return api_key


class IntegrationPrincipal:
    """request.user for an integration key: authenticated, but no person and no role.

    What it may do is decided by the key's scopes alone (leads.api.permissions).
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    _leadcrm_roles = frozenset()
    # What templates and context processors read of a signed-in user (a page rendered for a request
    # that came with an integration key, such as /api/docs/, must not fail on them).
    first_name = last_name = email = ""

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def get_username(self) -> str:
        return self.actor_label

    def get_full_name(self) -> str:
        return self.actor_label

    @property
    def actor_label(self) -> str:
        return f"api:{self.api_key.name}"[:100]

    def __str__(self) -> str:
        return self.actor_label


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`. A key in the query string is refused, never accepted."""

    keyword = "Bearer"

    def authenticate(self, request):
        if QUERY_STRING_KEY_NAMES.intersection(request.query_params.keys()):
            raise exceptions.AuthenticationFailed(
                "API keys are never accepted in the query string: send `Authorization: Bearer <key>`, "
                "and revoke the key you just exposed."
            )
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(
                "Unsupported authorization scheme: use `Authorization: Bearer <key>`."
            )
        raw_key = raw_key.strip()
        if not raw_key or " " in raw_key:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected `Bearer <key>`.")
        api_key = api_key_lookup(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if api_key.user_id is not None and not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("The user of this personal token is inactive.")
        # In autocommit, before the view's transaction: a refused request still counts as a use.
        api_key_touch(api_key)
        principal = api_key.user if api_key.user_id is not None else IntegrationPrincipal(api_key)
        return principal, api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def request_api_key(request) -> ApiKey | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


def actor_for(request) -> tuple[object | None, str]:
    """(actor user, actor label) for services that record who did something."""
    user = request.user
    if isinstance(user, IntegrationPrincipal):
        return None, user.actor_label
    return user, ""

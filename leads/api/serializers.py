"""Input validation and output shapes of the API.

Events are validated by a plain function (validate_event) rather than a DRF serializer: a batch of
1,000 through ListSerializer costs tens of milliseconds of field machinery, the plain function a
few. The EventIn serializer below documents the same fields for OpenAPI, and a test keeps the two
in step.
"""

import re
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone
from rest_framework import serializers

from ..ingest import EventInput
from ..json_text import json_bytes
from ..models import EngagementEvent, EventType, Handoff, Lead, StageChange, normalize_email
from ..stages import STAGE_CHOICES

MAX_BATCH = 1000
MAX_PROPERTIES_BYTES = 16_384
# Custom event types (for scoring rules) are lower-case words joined by underscores.
EVENT_TYPE_REGEX = r"[a-z][a-z0-9_]{0,63}"
EVENT_TYPE_PATTERN = re.compile(EVENT_TYPE_REGEX)
# The built-in types (all of which match the pattern): a set lookup instead of the regex.
KNOWN_EVENT_TYPES = frozenset(EventType.values)
# How far in the future a clock may be wrong before an event time is refused.
FUTURE_TOLERANCE = timedelta(days=1)
# RFC 3339 (what OpenAPI's date-time means) allows a leap second, which Python's datetime cannot hold.
LEAP_SECOND = re.compile(r"(?<=[T ]\d\d:\d\d):60")
EARLIEST_YEAR = 1970
DATETIME_MESSAGE = f"An ISO 8601 date and time from {EARLIEST_YEAR} on is required, e.g. 2026-01-31T12:00:00Z."


# An ISO 3166-1 alpha-2 code, in either case: two ASCII letters ("ÉÉ" passes str.isalpha()).
COUNTRY_PATTERN = re.compile(r"[A-Za-z]{2}")
COUNTRY_REGEX = r"^(?:[A-Za-z]{2})?\Z"
COUNTRY_MESSAGE = "Use a two-letter ISO 3166-1 code."

# The everyday address, checked by one regular expression; anything else goes through Django's
# full validator (a batch of 1,000 events would otherwise spend a third of its time there).
PLAIN_EMAIL = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def clean_email(value: str) -> str:
    """Normalized, valid, ASCII: the unique identity of a lead (see leads.models.normalize_email)."""
    email = normalize_email(value)
    if len(email) > 254:
        raise serializers.ValidationError("An email address has at most 254 characters.")
    if PLAIN_EMAIL.fullmatch(email):
        return email
    if not email.isascii():
        raise serializers.ValidationError("Only ASCII email addresses are accepted.")
    try:
        validate_email(email)
    except DjangoValidationError:
        raise serializers.ValidationError("Enter a valid email address.") from None
    return email


class ErrorSerializer(serializers.Serializer):
    """The one shape of every error."""

    type = serializers.CharField(help_text="Stable machine-readable kind, e.g. validation_error, rate_limited.")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field (dotted paths for nested fields); empty when not about fields.",
    )


# --- Submissions ----------------------------------------------------------------------------


class SubmissionInSerializer(serializers.Serializer):
    form_name = serializers.CharField(max_length=200, help_text="Which form was submitted.")
    email = serializers.CharField(max_length=320, help_text="Finds the lead (trimmed, case-insensitive).")
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company_domain = serializers.CharField(max_length=200, required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    country = serializers.RegexField(
        COUNTRY_REGEX,
        max_length=2,
        required=False,
        allow_blank=True,
        error_messages={"invalid": COUNTRY_MESSAGE},
        help_text="ISO 3166-1 alpha-2.",
    )
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company_size = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, allow_null=True)
    source = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    consent = serializers.BooleanField(required=False, default=False, help_text="Consent to marketing.")
    page_url = serializers.URLField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="The http(s) page the form was on.",
    )
    submitted_at = serializers.DateTimeField(required=False, help_text="When the form was sent; default: now.")
    fields = serializers.DictField(
        required=False, default=dict, help_text="Any other form fields, stored with the raw submission."
    )

    def validate_email(self, value: str) -> str:
        return clean_email(value)

    def validate_country(self, value: str) -> str:
        return value.upper()

    def validate_submitted_at(self, value: datetime) -> datetime:
        if _before_earliest_year(value):
            raise serializers.ValidationError(DATETIME_MESSAGE)
        if value > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError("This time is in the future.")
        return value


SUBMISSION_TEXT_FIELDS = {
    "form_name": 200,
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "company_domain": 200,
    "job_title": 200,
    "phone": 50,
    "industry": 100,
    "source": 100,
    "utm_source": 200,
    "utm_medium": 200,
    "utm_campaign": 200,
    "utm_term": 200,
    "utm_content": 200,
}
TRUE_VALUES = {True, "true", "True", "TRUE", "1", "yes", "on"}
FALSE_VALUES = {False, "false", "False", "FALSE", "0", "no", "off", "", None}
_url_validator = URLValidator(schemes=["http", "https"])


def validate_submission(raw) -> tuple[dict | None, dict]:
    """The rules of SubmissionInSerializer as a plain function, for the API's hottest path.

    A DRF serializer builds and deep-copies its twenty fields on every request: about a
    millisecond of CPU, as much as the rest of the request. A test keeps the two in step.
    """
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Send the submission as a JSON object."]}
    data: dict = {}
    errors: dict[str, list[str]] = {}
    for name, max_length in SUBMISSION_TEXT_FIELDS.items():
        value = raw.get(name)
        if value is None:
            value = ""
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            errors[name] = ["Not a valid string."]
            continue
        value = value.strip()
        if len(value) > max_length:
            errors[name] = [f"Ensure this field has no more than {max_length} characters."]
        data[name] = value
    if not data.get("form_name") and "form_name" not in errors:
        errors["form_name"] = ["This field is required."]

    email = raw.get("email")
    if not isinstance(email, str) or not email.strip():
        errors["email"] = ["This field is required."]
    else:
        try:
            data["email"] = clean_email(email)
        except serializers.ValidationError as exc:
            errors["email"] = [str(detail) for detail in exc.detail]

    country = raw.get("country")
    if country is not None and country != "":
        if not isinstance(country, str) or not COUNTRY_PATTERN.fullmatch(country.strip()):
            errors["country"] = [COUNTRY_MESSAGE]
        else:
            data["country"] = country.strip().upper()
    else:
        data["country"] = ""

    size = raw.get("company_size")
    if isinstance(size, str) and size.strip().isascii() and size.strip().isdigit():
        size = int(size.strip())
    if size is None or size == "":
        data["company_size"] = None
    elif isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 10_000_000:
        errors["company_size"] = ["A whole number from 0 to 10000000."]
    else:
        data["company_size"] = size

    consent = raw.get("consent", False)
    if isinstance(consent, list | dict):
        errors["consent"] = ["Must be a valid boolean."]
    elif consent in TRUE_VALUES:
        data["consent"] = True
    elif consent in FALSE_VALUES:
        data["consent"] = False
    else:
        errors["consent"] = ["Must be a valid boolean."]

    page_url = raw.get("page_url") or ""
    if not isinstance(page_url, str) or len(page_url) > 2000:
        errors["page_url"] = ["Enter a valid URL of at most 2000 characters."]
    elif page_url:
        try:
            _url_validator(page_url)
            data["page_url"] = page_url
        except DjangoValidationError:
            errors["page_url"] = ["Enter a valid URL."]
    else:
        data["page_url"] = ""

    submitted_at = raw.get("submitted_at")
    if submitted_at is not None:
        try:
            data["submitted_at"] = _parse_datetime(submitted_at)
            if data["submitted_at"] > timezone.now() + FUTURE_TOLERANCE:
                errors["submitted_at"] = ["This time is in the future."]
        except (ValueError, TypeError, OverflowError):
            errors["submitted_at"] = [DATETIME_MESSAGE]

    extra = raw.get("fields", {})
    if not isinstance(extra, dict):
        errors["fields"] = [f"Expected a JSON object, got {type(extra).__name__}."]
    else:
        data["fields"] = extra

    if errors:
        return None, errors
    return data, {}


class SubmissionOutSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=STAGE_CHOICES)
    created = serializers.BooleanField(help_text="True when this submission created the lead.")
    submission_id = serializers.IntegerField()


# --- Events ---------------------------------------------------------------------------------


class EventInSerializer(serializers.Serializer):
    """Documentation of one event (validated at runtime by validate_event, which refuses unknown fields)."""

    lead_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="The lead, by id. Either this or email."
    )
    email = serializers.EmailField(
        required=False, max_length=254, help_text="The lead, by email; an unknown email creates it."
    )
    event_type = serializers.RegexField(
        rf"^{EVENT_TYPE_REGEX}\Z",  # \Z: Python's $ would allow a trailing newline
        max_length=64,
        help_text="One of " + ", ".join(EventType.values) + f"; or a custom type matching ^{EVENT_TYPE_REGEX}$.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601; default: now. From 1970 to at most a day ahead of the server's clock."
    )
    properties = serializers.DictField(required=False, help_text="Free-form JSON object, at most 16 KB.")
    external_id = serializers.CharField(
        min_length=1,
        max_length=200,
        required=False,
        help_text="Makes the event idempotent per source: a resend is a duplicate.",
    )
    source = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="The sending system; default (also when empty): the API key's name.",
    )


class EventBatchInSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, min_length=1, max_length=MAX_BATCH, help_text=f"1 to {MAX_BATCH} events.")


class EventOutcomeSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    lead_id = serializers.IntegerField(required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class EventBatchOutSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventOutcomeSerializer(many=True)


EVENT_FIELDS = frozenset(EventInSerializer().fields)


def _parse_datetime(value) -> datetime:
    """ISO 8601 / RFC 3339: also a lower-case t or z and a leap second (read as :59); naive means UTC."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40 or not value.isascii():
        raise ValueError
    try:
        # The everyday form as it is: upper-casing and the leap-second rewrite cost more than the
        # parse, and a string read as it is reads the same after them (letters only mark fields).
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.fromisoformat(LEAP_SECOND.sub(":59", value.upper()))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if _before_earliest_year(parsed):
        raise ValueError
    return parsed


def _before_earliest_year(value: datetime) -> bool:
    # The year in UTC: 1970-01-01T00:30+01:00 is still 1969. Year 1 with an offset cannot be moved.
    return value.year <= EARLIEST_YEAR and (value.year < EARLIEST_YEAR or value.astimezone(UTC).year < EARLIEST_YEAR)


def validate_event(raw, *, default_source: str, now: datetime) -> tuple[EventInput | None, dict]:
    """(event, {}) for a valid item, (None, {field: [messages]}) otherwise.

    A batch runs this a thousand times: a valid event costs a few type tests, the email's regular
    expression and its EventInput; the messages are built only for what fails.
    """
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Each event must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    if not EVENT_FIELDS.issuperset(raw):
        unknown = set(raw) - EVENT_FIELDS
        errors["non_field_errors"] = [f"Unknown field(s): {', '.join(sorted(map(str, unknown))[:5])}."]

    lead_id = raw.get("lead_id")
    email = None
    if lead_id is not None:
        if type(lead_id) is not int or not 0 < lead_id < 2**63:  # type(): a bool is an int too
            errors["lead_id"] = ["A valid lead id (a positive integer) is required."]
            lead_id = None
    elif (email := raw.get("email")) is None:
        errors["lead_id"] = ["Name the lead with lead_id or email."]
    elif not isinstance(email, str):
        errors["email"] = ["Must be a string."]
    else:
        try:
            email = clean_email(email)
        except serializers.ValidationError as exc:
            errors["email"] = [str(detail) for detail in exc.detail]

    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or (
        event_type not in KNOWN_EVENT_TYPES and not EVENT_TYPE_PATTERN.fullmatch(event_type)
    ):
        errors["event_type"] = [
            "A known event type, or a custom one of lower-case letters, digits and underscores (max 64)."
        ]

    occurred_at = raw.get("occurred_at")
    if occurred_at is None:
        occurred_at = now
    else:
        try:
            occurred_at = _parse_datetime(occurred_at)
            if occurred_at > now + FUTURE_TOLERANCE:
                errors["occurred_at"] = ["This time is in the future."]
        except (ValueError, TypeError, OverflowError):
            errors["occurred_at"] = [DATETIME_MESSAGE]

    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        errors["properties"] = ["Must be a JSON object."]
    elif len(json_bytes(properties)) > MAX_PROPERTIES_BYTES:  # as stored: compact JSON, UTF-8
        errors["properties"] = [f"At most {MAX_PROPERTIES_BYTES} bytes."]

    external_id = raw.get("external_id")
    if external_id is not None:
        if type(external_id) is int:
            external_id = str(external_id)
        if not isinstance(external_id, str) or not 0 < len(external_id) <= 200:
            errors["external_id"] = ["A string of 1 to 200 characters."]

    source = raw.get("source")
    if source is None or source == "":
        source = default_source
    elif not isinstance(source, str) or len(source) > 100:
        errors["source"] = ["A string of at most 100 characters."]

    if errors:
        return None, errors
    # Positional, in the fields' order: keyword arguments took twice as long to match (callgrind).
    return EventInput(event_type, occurred_at, properties, lead_id, email, source[:100], external_id), {}


# --- Leads ----------------------------------------------------------------------------------


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class LeadListSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "company",
            "job_title",
            "country",
            "industry",
            "source",
            "unsubscribed",
            "stage",
            "score",
            "score_stale",
            "owner",
            "claimed_at",
            "created_at",
            "last_activity_at",
        ]
        read_only_fields = fields


# GET /api/v1/leads/ builds its rows from .values() with lead_list_data(): LeadListSerializer
# stays the schema (drf-spectacular reads it) and the reference the tests compare with, but
# running it cost ~100 us a row (field objects, model instances): half the CPU of a 50-row page.
LEAD_LIST_COLUMNS = [
    *(name for name in LeadListSerializer.Meta.fields if name != "owner"),
    "owner_id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
]
_LEAD_LIST_DATETIMES = ("claimed_at", "created_at", "last_activity_at")


def _api_datetime(value):
    """What DRF's DateTimeField gives: the current time zone, ISO 8601, Z for UTC."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def lead_list_data(rows: list[dict]) -> list[dict]:
    """LeadListSerializer(many=True).data for rows of Lead.objects.values(*LEAD_LIST_COLUMNS)."""
    fields = LeadListSerializer.Meta.fields
    data = []
    for row in rows:
        item = {}
        for name in fields:
            if name == "owner":
                owner_id = row["owner_id"]
                if owner_id is None:
                    item["owner"] = None
                else:
                    username = row["owner__username"]
                    full_name = f"{row['owner__first_name']} {row['owner__last_name']}".strip()
                    item["owner"] = {"id": owner_id, "username": username, "name": full_name or username}
            elif name in _LEAD_LIST_DATETIMES:
                item[name] = _api_datetime(row[name])
            else:
                item[name] = row[name]
        data.append(item)
    return data


class StageChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_display", read_only=True)

    class Meta:
        model = StageChange
        fields = ["id", "from_stage", "to_stage", "actor", "reason", "created_at"]
        read_only_fields = fields


class HandoffSerializer(serializers.ModelSerializer):
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = Handoff
        fields = [
            "id",
            "kind",
            "from_team",
            "to_team",
            "status",
            "reason",
            "opened_at",
            "due_at",
            "decided_by",
            "decided_at",
            "rejection_reason",
        ]
        read_only_fields = fields

    def get_decided_by(self, handoff) -> str | None:
        user = handoff.decided_by
        return (user.get_full_name() or user.get_username()) if user else None


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = EngagementEvent
        fields = ["id", "lead_id", "event_type", "occurred_at", "properties", "source", "external_id", "received_at"]
        read_only_fields = fields


class ScoreSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="score")
    fit = serializers.IntegerField(source="fit_score")
    engagement = serializers.IntegerField(source="engagement_score")
    breakdown = serializers.JSONField(source="score_breakdown", help_text="Per rule: what added or removed points.")
    ruleset_version = serializers.IntegerField(source="score_ruleset_version", allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField(source="score_stale", help_text="New events wait to be scored.")


class LeadDetailSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(read_only=True, allow_null=True)
    score = ScoreSerializer(source="*", read_only=True)
    stage_history = StageChangeSerializer(many=True, read_only=True)
    handoffs = HandoffSerializer(source="handoffs_list", many=True, read_only=True)
    recent_events = EventSerializer(many=True, read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "company",
            "company_domain",
            "job_title",
            "phone",
            "country",
            "industry",
            "company_size",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "consent",
            "consent_at",
            "unsubscribed",
            "stage",
            "stage_changed_at",
            "score",
            "owner",
            "claimed_at",
            "created_at",
            "updated_at",
            "last_activity_at",
            "stage_history",
            "handoffs",
            "recent_events",
        ]
        read_only_fields = fields


class LeadPatchSerializer(serializers.Serializer):
    """The fields a person or a write-scope key may change. Email (the identity), stage (moves)
    and score (computed) are not among them."""

    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company_domain = serializers.CharField(max_length=200, required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    country = serializers.RegexField(
        COUNTRY_REGEX, max_length=2, required=False, allow_blank=True, error_messages={"invalid": COUNTRY_MESSAGE}
    )
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company_size = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, allow_null=True)
    source = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    unsubscribed = serializers.BooleanField(required=False)

    def validate_country(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in sorted(map(str, unknown))}
            )
        if not attrs:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


class TransitionInSerializer(serializers.Serializer):
    to_stage = serializers.ChoiceField(choices=STAGE_CHOICES, help_text="The stage to move to.")
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Required to recycle or disqualify."
    )
    expected_stage = serializers.ChoiceField(
        choices=STAGE_CHOICES,
        required=False,
        help_text="Refuse (409) unless the lead is still in this stage.",
    )


class ReleaseInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class PipelineStageSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class PipelineSerializer(serializers.Serializer):
    stages = PipelineStageSerializer(many=True)
    total = serializers.IntegerField()
    unclaimed_in_sales_queue = serializers.IntegerField(help_text="Leads with an open handoff to sales.")

"""The integrations API: validate, call one service or selector, serialize.

Writes go through leads.ingest (submissions, events, lead fields) and leads.services (moves,
claims); their domain errors become HTTP in leads.api.errors.
"""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from .. import ingest
from ..activity import score_is_stale
from ..exceptions import NotPermitted
from ..models import EngagementEvent, Handoff, HandoffStatus, Lead, StageChange
from ..roles import Role
from ..selectors import pipeline_counts
from ..services import lead_claim, lead_release, lead_transition
from . import schema as docs
from .auth import actor_for, request_api_key
from .errors import IdempotencyConflict, check_url_ids
from .filters import LeadFilter, text_search_is_narrow
from .negotiation import ApiContentNegotiation
from .pagination import MAX_LIMIT, KeysetPagination, Ordering
from .parsers import LimitedJSONParser
from .permissions import (
    EVERY_ROLE,
    READ,
    SUBMIT,
    WRITE,
    ApiAccess,
    check_can_claim,
    check_can_edit,
    check_can_move,
    check_can_release,
    check_can_view,
    visible_leads_for,
)
from .renderers import BatchAnswerRenderer
from .serializers import (
    LEAD_LIST_COLUMNS,
    MAX_BATCH,
    EventBatchInSerializer,
    EventBatchOutSerializer,
    EventInSerializer,
    EventSerializer,
    HandoffSerializer,
    LeadDetailSerializer,
    LeadListSerializer,
    LeadPatchSerializer,
    PipelineSerializer,
    ReleaseInSerializer,
    StageChangeSerializer,
    SubmissionInSerializer,
    SubmissionOutSerializer,
    TransitionInSerializer,
    lead_list_data,
    validate_event,
    validate_submission,
)
from .throttling import ApiRateThrottle

RECENT_EVENTS = 20
HISTORY_LIMIT = 100
MAX_IDEMPOTENCY_KEY = 255


class ApiView(GenericAPIView):
    permission_classes = [ApiAccess]
    throttle_classes = [ApiRateThrottle]
    parser_classes = [LimitedJSONParser]
    content_negotiation_class = ApiContentNegotiation
    # {HTTP method: (scope a key needs, roles a person needs, people only)}
    access: dict = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and permissions first: 401/403 win
        check_url_ids(kwargs)

    def idempotency(self, request) -> ingest.Idempotency | None:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
            raise ValidationError({"Idempotency-Key": ["1 to 255 printable ASCII characters."]})
        api_key = request_api_key(request)
        scope = f"key:{api_key.pk}" if api_key is not None else f"user:{request.user.pk}"
        return ingest.Idempotency.for_request(
            scope=scope,
            key=key,
            method=request.method,
            path=request.path,
            body=getattr(request, "raw_body", b""),
        )

    @staticmethod
    def write(work, idempotency, single_statement: bool = False) -> Response:
        try:
            answer = ingest.write_once(work=work, idempotency=idempotency, single_statement=single_statement)
        except ingest.IdempotencyKeyReused:
            raise IdempotencyConflict() from None
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def lead_or_404(self, pk: int, queryset=None) -> Lead:
        return get_object_or_404(queryset if queryset is not None else Lead.objects.all(), pk=pk)


def default_source(request) -> str:
    api_key = request_api_key(request)
    if api_key is not None:
        return api_key.name[:100]
    return f"user:{request.user.get_username()}"[:100]


# --- Submissions ----------------------------------------------------------------------------

SUBMISSION_EXAMPLE = {
    "form_name": "demo-request",
    "email": "Ada.Lovelace@Example.com ",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "job_title": "CTO",
    "country": "GB",
    "company_size": 120,
    "utm_source": "google",
    "utm_medium": "cpc",
    "utm_campaign": "spring-launch",
    "consent": True,
    "page_url": "https://example.com/demo",
    "submitted_at": "2026-01-31T12:00:00Z",
    "fields": {"how_did_you_hear": "A friend", "team_size": "11-50"},
}


class SubmissionCreateView(ApiView):
    access = {"POST": (SUBMIT, (Role.MARKETING,), False)}
    form_keys_allowed = True
    serializer_class = SubmissionInSerializer

    @extend_schema(
        operation_id="submissions_create",
        summary="Post a form submission",
        description=(
            "Stores the submission as received, creates the lead or updates the one with the same "
            "normalized email (an empty value never erases a known one; source and UTM fields keep the "
            "first touch), records a `form_submitted` event and marks the lead's score for a recompute, "
            "all in one transaction. Needs the `submit` scope; a form key only for its form. "
            "Send an `Idempotency-Key` to make retries safe."
        ),
        parameters=[docs.IDEMPOTENCY_KEY],
        request=SubmissionInSerializer,
        responses={
            201: OpenApiResponse(SubmissionOutSerializer, description="Stored (or replayed for a known key)."),
            409: docs.E409_IDEMPOTENCY,
            **docs.WRITE_ERRORS,
        },
        examples=[
            OpenApiExample("A demo request", value=SUBMISSION_EXAMPLE, request_only=True),
            OpenApiExample(
                "Stored",
                value={"lead_id": 4211, "stage": "lead", "created": True, "submission_id": 98122},
                response_only=True,
                status_codes=["201"],
            ),
        ],
        tags=["integrations"],
    )
    def post(self, request):
        data, errors = validate_submission(request.data)
        if errors:
            raise ValidationError(errors)
        api_key = request_api_key(request)
        if api_key is not None and api_key.form_name and data["form_name"] != api_key.form_name:
            raise NotPermitted(f"This key may only post submissions for the form {api_key.form_name!r}.")
        idempotency = self.idempotency(request)
        fields = {name: data.get(name) for name in ingest.LEAD_WRITABLE_FIELDS}
        payload = request.data
        source = default_source(request)

        def work():
            result = ingest.submission_ingest(
                form_name=data["form_name"],
                email=data["email"],
                fields=fields,
                consent=data["consent"],
                page_url=data["page_url"],
                submitted_at=data.get("submitted_at") or timezone.now(),
                payload=payload,
                api_key=api_key,
                source=source,
            )
            return status.HTTP_201_CREATED, {
                "lead_id": result.lead_id,
                "stage": result.stage,
                "created": result.created,
                "submission_id": result.submission_id,
            }

        return self.write(work, idempotency, single_statement=ingest.submission_is_single_statement())


# --- Events ---------------------------------------------------------------------------------


class SingleEventOutSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])
    lead_id = serializers.IntegerField()


class EventCreateView(ApiView):
    access = {"POST": (SUBMIT, (Role.MARKETING,), False)}
    serializer_class = EventInSerializer
    renderer_classes = [BatchAnswerRenderer]

    @extend_schema(
        operation_id="events_create",
        summary="Post one engagement event or a batch",
        description=(
            'One event as a JSON object, or a batch as `{"events": [...]}` (1 to 1,000). The lead is named '
            "by `lead_id` or `email` (an unknown email creates a lead). `external_id` makes an event idempotent "
            "per `source`: a resend is reported as a duplicate and not stored again. A batch is judged per item: "
            "the answer (200) lists each as accepted, duplicate or rejected with its errors, and an invalid item "
            "never drops a valid neighbour. A single event answers 201 (accepted), 200 (duplicate) or an error. "
            "Needs the `submit` scope. Accepts an `Idempotency-Key`."
        ),
        parameters=[docs.IDEMPOTENCY_KEY],
        request=PolymorphicProxySerializer(
            component_name="EventRequest",
            serializers=[EventInSerializer(), EventBatchInSerializer(), EventInSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            200: OpenApiResponse(
                EventBatchOutSerializer, description="A batch, judged per item; or a single duplicate event."
            ),
            201: OpenApiResponse(SingleEventOutSerializer, description="A single event, stored."),
            404: docs.E404,
            409: docs.E409_IDEMPOTENCY,
            **docs.WRITE_ERRORS,
        },
        examples=[
            OpenApiExample(
                "A batch",
                value={
                    "events": [
                        {
                            "email": "ada@example.com",
                            "event_type": "pricing_page_view",
                            "occurred_at": "2026-01-31T12:00:00Z",
                            "properties": {"path": "/pricing"},
                            "external_id": "pv-77812",
                            "source": "web-analytics",
                        },
                        {
                            "lead_id": 4211,
                            "event_type": "feature_used",
                            "occurred_at": "2026-01-31T12:01:10Z",
                            "properties": {"feature": "export"},
                        },
                    ]
                },
                request_only=True,
            ),
            OpenApiExample(
                "One event",
                value={"lead_id": 4211, "event_type": "webinar_attended", "properties": {"webinar": "w-12"}},
                request_only=True,
            ),
            OpenApiExample(
                "Batch answer",
                value={
                    "accepted": 1,
                    "duplicates": 1,
                    "rejected": 1,
                    "results": [
                        {"index": 0, "status": "accepted", "lead_id": 4211},
                        {"index": 1, "status": "duplicate", "lead_id": 4211},
                        {"index": 2, "status": "rejected", "errors": {"event_type": ["A known event type, ..."]}},
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Single answer",
                value={"status": "accepted", "lead_id": 4211},
                response_only=True,
                status_codes=["201"],
            ),
        ],
        tags=["integrations"],
    )
    def post(self, request):
        data = request.data
        if isinstance(data, dict) and "events" in data:
            raw_items, is_batch = data["events"], True
            if not isinstance(raw_items, list) or not raw_items:
                raise ValidationError({"events": ["A list of 1 to 1000 events."]})
        elif isinstance(data, list):
            raw_items, is_batch = data, True
            if not raw_items:
                raise ValidationError({"events": ["A list of 1 to 1000 events."]})
        elif isinstance(data, dict):
            raw_items, is_batch = [data], False
        else:
            raise ValidationError('Send one event as an object, or a batch as {"events": [...]}.')
        if len(raw_items) > MAX_BATCH:
            raise ValidationError({"events": [f"At most {MAX_BATCH} events per request; got {len(raw_items)}."]})

        now = timezone.now()
        source = default_source(request)
        valid: list[tuple[int, ingest.EventInput]] = []
        rejected: dict[int, dict] = {}
        for index, raw in enumerate(raw_items):
            item, errors = validate_event(raw, default_source=source, now=now)
            if item is None:
                rejected[index] = errors
            else:
                valid.append((index, item))
        if not is_batch and rejected:
            raise ValidationError(rejected[0])
        idempotency = self.idempotency(request)

        def work():
            outcomes = ingest.events_ingest(items=valid) if valid else []
            if not is_batch:
                outcome = outcomes[0]
                if outcome["status"] == ingest.EventStatus.REJECTED:
                    if "lead_id" in outcome["errors"]:
                        raise NotFound(outcome["errors"]["lead_id"][0])
                    raise ValidationError(outcome["errors"])
                accepted = outcome["status"] == ingest.EventStatus.ACCEPTED
                code = status.HTTP_201_CREATED if accepted else status.HTTP_200_OK
                return code, {"status": outcome["status"], "lead_id": outcome["lead_id"]}
            results = outcomes
            if rejected:  # the invalid items in their places, between the outcomes of the valid ones
                stored = iter(outcomes)
                results = [
                    {"index": index, "status": ingest.EventStatus.REJECTED, "errors": rejected[index]}
                    if index in rejected
                    else next(stored)
                    for index in range(len(raw_items))
                ]
            statuses = [result["status"] for result in results]
            return status.HTTP_200_OK, {
                "accepted": statuses.count(ingest.EventStatus.ACCEPTED),
                "duplicates": statuses.count(ingest.EventStatus.DUPLICATE),
                "rejected": statuses.count(ingest.EventStatus.REJECTED),
                "results": results,
            }

        return self.write(work, idempotency)


# --- Leads ----------------------------------------------------------------------------------

LEAD_ORDERINGS = {
    "-created_at": Ordering("created_at", descending=True, is_datetime=True),
    "created_at": Ordering("created_at", descending=False, is_datetime=True),
    "-score": Ordering("score", descending=True),
    "score": Ordering("score", descending=False),
    "-last_activity_at": Ordering("last_activity_at", descending=True, nullable=True, is_datetime=True),
    "last_activity_at": Ordering("last_activity_at", descending=False, nullable=True, is_datetime=True),
}
lead_pagination = KeysetPagination(orderings=LEAD_ORDERINGS, default="-created_at", table=Lead._meta.db_table)
event_pagination = KeysetPagination(
    orderings={"-occurred_at": Ordering("occurred_at", descending=True, is_datetime=True)},
    default="-occurred_at",
    table=EngagementEvent._meta.db_table,
)

CURSOR_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next_cursor` of the previous page."),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        description=f"Rows per page, 1 to {MAX_LIMIT} (default 50).",
    ),
]


class LeadPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")
    next_cursor = serializers.CharField(allow_null=True)
    results = LeadListSerializer(many=True)


class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    next_cursor = serializers.CharField(allow_null=True)
    results = EventSerializer(many=True)


class LeadListView(ApiView):
    access = {"GET": (READ, EVERY_ROLE, False)}
    filter_backends = [DjangoFilterBackend]
    filterset_class = LeadFilter
    queryset = Lead.objects.all()
    pagination_class = None

    @extend_schema(
        operation_id="leads_list",
        summary="List leads",
        description=(
            "Filters combine with AND. Pages are cursors: follow `next` (or pass `next_cursor` as `cursor`) "
            "until it is null; a cursor stays fast on deep pages and is only valid with the ordering that made "
            "it. Needs the `read` scope, or any role."
        ),
        parameters=[
            *CURSOR_PARAMETERS,
            OpenApiParameter(
                "ordering", str, enum=["", *LEAD_ORDERINGS], description="Default (also when empty): -created_at."
            ),
        ],
        responses={200: LeadPageSerializer, 400: docs.E400, **docs.READ_ERRORS},
        examples=[
            OpenApiExample(
                "A page",
                value={
                    "next": "https://crm.example.com/api/v1/leads/?ordering=-score&cursor=WyJzY29yZSIsODAsNDIxMV0",
                    "next_cursor": "WyJzY29yZSIsODAsNDIxMV0",
                    "results": [
                        {
                            "id": 4211,
                            "email": "ada@example.com",
                            "first_name": "Ada",
                            "last_name": "Lovelace",
                            "company": "Analytical Engines Ltd",
                            "job_title": "CTO",
                            "country": "GB",
                            "industry": "Software",
                            "source": "website",
                            "stage": "mql",
                            "score": 80,
                            "score_stale": False,
                            "owner": None,
                            "claimed_at": None,
                            "created_at": "2026-01-31T12:00:00Z",
                            "last_activity_at": "2026-02-02T08:30:00Z",
                        }
                    ],
                },
                response_only=True,
            )
        ],
        tags=["leads"],
    )
    def get(self, request):
        queryset = self.filter_queryset(visible_leads_for(request))
        narrow = text_search_is_narrow(queryset, request, page_rows=lead_pagination.limit_for(request) + 1)
        rows, next_cursor = lead_pagination.paginate(queryset.values(*LEAD_LIST_COLUMNS), request, match_first=narrow)
        return lead_pagination.response(request, lead_list_data(rows), next_cursor)


def lead_detail_data(lead: Lead) -> dict:
    """The lead with its history, handoffs and recent events: five queries whatever their length."""
    lead.score_stale = score_is_stale(lead)  # shown, never saved: events may still be in the queue
    lead.stage_history = list(StageChange.objects.filter(lead=lead).select_related("actor")[:HISTORY_LIMIT])
    lead.handoffs_list = list(Handoff.objects.filter(lead=lead).select_related("decided_by")[:HISTORY_LIMIT])
    lead.recent_events = list(EngagementEvent.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:RECENT_EVENTS])
    return LeadDetailSerializer(lead).data


class LeadDetailView(ApiView):
    access = {"GET": (READ, EVERY_ROLE, False), "PATCH": (WRITE, (Role.MARKETING, Role.SALES), False)}
    serializer_class = LeadDetailSerializer

    @extend_schema(
        operation_id="leads_retrieve",
        summary="One lead",
        description=(
            "The lead with its score and breakdown, stage history (newest first, up to 100), handoffs and its "
            f"{RECENT_EVENTS} most recent events. Needs the `read` scope, or any role."
        ),
        responses={200: LeadDetailSerializer, 404: docs.E404, **docs.READ_ERRORS},
        tags=["leads"],
    )
    def get(self, request, pk: int):
        lead = self.lead_or_404(pk, Lead.objects.select_related("owner"))
        check_can_view(request, lead)
        return Response(lead_detail_data(lead))

    @extend_schema(
        operation_id="leads_partial_update",
        summary="Change a lead's fields",
        description=(
            "Changes the editable fields (not email, stage or score: moves are actions). The score is marked "
            "for a recompute, since fit rules read these fields. Needs the `write` scope, or the marketing "
            "role, or the sales role for your own or unowned leads."
        ),
        request=LeadPatchSerializer,
        responses={200: LeadDetailSerializer, 404: docs.E404, **docs.WRITE_ERRORS},
        examples=[OpenApiExample("Fix the company", value={"company": "Acme Inc", "company_size": 250})],
        tags=["leads"],
    )
    def patch(self, request, pk: int):
        lead = self.lead_or_404(pk)
        check_can_edit(request, lead)
        serializer = LeadPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ingest.lead_update_fields(lead_id=lead.pk, changes=serializer.validated_data)
        return Response(lead_detail_data(Lead.objects.select_related("owner").get(pk=lead.pk)))


class MoveOutSerializer(serializers.Serializer):
    lead = LeadListSerializer()
    change = StageChangeSerializer()
    handoff = HandoffSerializer(allow_null=True)


class HandoffOutSerializer(serializers.Serializer):
    lead = LeadListSerializer()
    handoff = HandoffSerializer()


class LeadTransitionView(ApiView):
    access = {"POST": (WRITE, (Role.MARKETING, Role.SALES, Role.SERVICE), False)}
    serializer_class = TransitionInSerializer

    @extend_schema(
        operation_id="leads_transition",
        summary="Move a lead to another stage",
        description=(
            "Moves along the lifecycle table (recycling and disqualifying need a reason); records a stage "
            "change and, entering a sales stage, opens a handoff. A move the table refuses, or a lead no longer "
            "in `expected_stage`, is a 409. Needs the `write` scope, or a role that may make this move."
        ),
        request=TransitionInSerializer,
        responses={200: MoveOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.WRITE_ERRORS},
        examples=[OpenApiExample("Disqualify", value={"to_stage": "disqualified", "reason": "Student, no budget"})],
        tags=["leads"],
    )
    def post(self, request, pk: int):
        serializer = TransitionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lead = self.lead_or_404(pk)
        check_can_move(request, lead, data["to_stage"])
        actor, actor_label = actor_for(request)
        result = lead_transition(
            lead_id=lead.pk,
            to_stage=data["to_stage"],
            actor=actor,
            actor_label=actor_label,
            reason=data["reason"],
            expected_stage=data.get("expected_stage"),
        )
        lead = Lead.objects.select_related("owner").get(pk=lead.pk)
        return Response(
            {
                "lead": LeadListSerializer(lead).data,
                "change": StageChangeSerializer(result.change).data,
                "handoff": HandoffSerializer(result.handoff).data if result.handoff else None,
            }
        )


class LeadClaimView(ApiView):
    access = {"POST": (WRITE, (Role.SALES,), True)}
    serializer_class = None

    @extend_schema(
        operation_id="leads_claim",
        summary="Claim a lead from the sales queue",
        description=(
            "Takes the lead's open handoff: of many concurrent claims exactly one wins, the others get a 409 "
            "that says who was first. For people with the sales or admin role (session or personal token with "
            "the `write` scope)."
        ),
        request=None,
        responses={200: HandoffOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.READ_ERRORS},
        tags=["leads"],
    )
    def post(self, request, pk: int):
        lead = self.lead_or_404(pk)
        check_can_claim(request, lead)
        handoff = lead_claim(lead_id=lead.pk, user=request.user)
        lead = Lead.objects.select_related("owner").get(pk=lead.pk)
        return Response({"lead": LeadListSerializer(lead).data, "handoff": HandoffSerializer(handoff).data})


class LeadReleaseView(ApiView):
    access = {"POST": (WRITE, (Role.SALES,), True)}
    serializer_class = ReleaseInSerializer

    @extend_schema(
        operation_id="leads_release",
        summary="Give a lead back to the sales queue",
        description="Its owner (or an admin) releases it; a new open handoff puts it back in the queue.",
        request=ReleaseInSerializer,
        responses={200: HandoffOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.WRITE_ERRORS},
        examples=[OpenApiExample("Out of office", value={"reason": "On leave for two weeks"})],
        tags=["leads"],
    )
    def post(self, request, pk: int):
        serializer = ReleaseInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = self.lead_or_404(pk)
        check_can_release(request, lead)
        handoff = lead_release(lead_id=lead.pk, user=request.user, reason=serializer.validated_data["reason"])
        lead = Lead.objects.select_related("owner").get(pk=lead.pk)
        return Response({"lead": LeadListSerializer(lead).data, "handoff": HandoffSerializer(handoff).data})


class LeadEventsView(ApiView):
    access = {"GET": (READ, EVERY_ROLE, False)}
    serializer_class = EventSerializer

    @extend_schema(
        operation_id="leads_events_list",
        summary="A lead's engagement events",
        description="Newest first, cursor-paginated. Needs the `read` scope, or any role.",
        parameters=CURSOR_PARAMETERS,
        responses={200: EventPageSerializer, 400: docs.E400, 404: docs.E404, **docs.READ_ERRORS},
        tags=["leads"],
    )
    def get(self, request, pk: int):
        lead = self.lead_or_404(pk, Lead.objects.only("id", "stage", "owner_id"))
        check_can_view(request, lead)
        rows, next_cursor = event_pagination.paginate(EngagementEvent.objects.filter(lead=lead), request)
        return event_pagination.response(request, EventSerializer(rows, many=True).data, next_cursor)


class PipelineView(ApiView):
    access = {"GET": (READ, EVERY_ROLE, False)}
    serializer_class = PipelineSerializer

    @extend_schema(
        operation_id="pipeline_retrieve",
        summary="Leads per stage",
        description="Every stage in funnel order with its count (zero included), and the sales queue's length.",
        responses={200: PipelineSerializer, **docs.READ_ERRORS},
        examples=[
            OpenApiExample(
                "Pipeline",
                value={
                    "stages": [
                        {"stage": "lead", "label": "Lead", "count": 1200},
                        {"stage": "mql", "label": "MQL", "count": 85},
                    ],
                    "total": 1285,
                    "unclaimed_in_sales_queue": 4,
                },
                response_only=True,
            )
        ],
        tags=["leads"],
    )
    def get(self, request):
        stages = pipeline_counts()
        return Response(
            {
                "stages": stages,
                "total": sum(stage["count"] for stage in stages),
                "unclaimed_in_sales_queue": Handoff.objects.filter(status=HandoffStatus.OPEN).count(),
            }
        )

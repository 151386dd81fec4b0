"""The sales and service workspaces in the API: the queue, My leads, accept (claim), reject, close,
next step, upgrade interest and notifications. The same policy and services as the browser pages
(leads.policy, leads.handoffs); errors leave through leads.api.errors in the one error shape.
People only (a session or a personal token): these are a rep's actions, not an integration's.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from .. import handoffs, policy, sales_selectors
from ..exceptions import AlreadyClaimed, NotPermitted
from ..marketing_services import note_add
from ..models import Handoff, HandoffStatus, Lead, Note, NoteKind, Notification, UpgradeFlag, UpgradeUrgency
from ..roles import Role
from ..services import lead_claim
from . import schema as docs
from .permissions import EVERY_ROLE, READ, WRITE, check_can_view
from .serializers import HandoffSerializer, LeadListSerializer
from .views import ApiView

SALES = (Role.SALES,)


def _refuse(reason: str | None) -> None:
    if reason:
        raise NotPermitted(reason)


class QueueItemSerializer(HandoffSerializer):
    lead = LeadListSerializer(read_only=True)
    sla_breached_at = serializers.DateTimeField(read_only=True, allow_null=True)
    offered_to = serializers.SerializerMethodField(help_text="The rep routing offered it to, if any.")
    offered_until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Only that rep (or an admin) may claim it until then; null: no deadline.",
    )
    offered_to_me = serializers.SerializerMethodField()

    class Meta(HandoffSerializer.Meta):
        fields = [
            *HandoffSerializer.Meta.fields,
            "sla_breached_at",
            "offered_to",
            "offered_until",
            "offered_to_me",
            "lead",
        ]
        read_only_fields = fields

    def get_offered_to(self, handoff) -> str | None:
        user = handoff.offered_to
        return (user.get_full_name() or user.get_username()) if user else None

    def get_offered_to_me(self, handoff) -> bool:
        request = self.context.get("request")
        return request is not None and handoff.offered_to_id == request.user.pk


class QueuePageSerializer(serializers.Serializer):
    results = QueueItemSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class SalesQueueView(ApiView):
    access = {"GET": (READ, SALES, True)}
    serializer_class = QueuePageSerializer

    @extend_schema(
        operation_id="sales_queue",
        summary="The sales queue",
        description=(
            "Open handoffs the rep may take (offered to nobody or to them), soonest SLA deadline first, then "
            "highest score, then oldest. Pass `next_cursor` back as `cursor` for the next 25."
        ),
        tags=["sales"],
        responses={200: QueuePageSerializer, **docs.READ_ERRORS},
    )
    def get(self, request):
        page = sales_selectors.queue_page(user=request.user, cursor=request.query_params.get("cursor", ""))
        rows = QueueItemSerializer(page.rows, many=True, context={"request": request}).data
        return Response({"results": rows, "next_cursor": page.next_cursor})


class MyLeadSerializer(LeadListSerializer):
    urgency = serializers.CharField(source="urgency_name", read_only=True)

    class Meta(LeadListSerializer.Meta):
        fields = [*LeadListSerializer.Meta.fields, "next_step", "next_step_due", "urgency"]
        read_only_fields = fields


class MyLeadsPageSerializer(serializers.Serializer):
    results = MyLeadSerializer(many=True)
    page = serializers.IntegerField()
    has_next = serializers.BooleanField()


class MyLeadsView(ApiView):
    access = {"GET": (READ, SALES, True)}
    serializer_class = MyLeadsPageSerializer

    @extend_schema(
        operation_id="sales_my_leads",
        summary="My leads",
        description="The rep's open leads, most urgent next step first: overdue, today, none set, later.",
        tags=["sales"],
        responses={200: MyLeadsPageSerializer, **docs.READ_ERRORS},
    )
    def get(self, request):
        raw = request.query_params.get("page", "1")
        page = int(raw) if raw.isdigit() and int(raw) > 0 else 1
        rows, has_next = sales_selectors.my_leads_page(user=request.user, page=page)
        return Response({"results": MyLeadSerializer(rows, many=True).data, "page": page, "has_next": has_next})


class LeadActionOutSerializer(serializers.Serializer):
    lead = LeadListSerializer()


def _lead_out(lead_id: int) -> dict:
    return {"lead": LeadListSerializer(Lead.objects.select_related("owner").get(pk=lead_id)).data}


class HandoffAcceptView(ApiView):
    access = {"POST": (WRITE, SALES, True)}
    serializer_class = None

    @extend_schema(
        operation_id="handoffs_accept",
        summary="Accept (claim) a handoff from the queue",
        description=(
            "Of many concurrent accepts exactly one wins; the others get a 409 naming who was first. A handoff "
            "that is no longer open is a 409 too: it never takes the lead's newer handoff. A handoff routing offered "
            'to another rep is a 409 `offered_to_another_rep` ("Offered to <rep> until <time>") until that offer '
            "lapses; an admin may accept it all the same."
        ),
        request=None,
        tags=["sales"],
        responses={200: LeadActionOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.READ_ERRORS},
    )
    def post(self, request, pk: int):
        handoff = get_object_or_404(Handoff.objects.select_related("lead", "lead__owner"), pk=pk)
        _refuse(policy.why_not_claim(request.user, handoff.lead))
        if handoff.status != HandoffStatus.OPEN:
            owner = handoff.lead.owner
            who = (owner.get_full_name() or owner.get_username()) if owner else "someone"
            raise AlreadyClaimed(f"This handoff is {handoff.status}; the lead is with {who}.")
        lead_claim(lead_id=handoff.lead_id, user=request.user)
        return Response(_lead_out(handoff.lead_id))


class HandoffPassView(ApiView):
    access = {"POST": (WRITE, SALES, True)}
    serializer_class = None

    @extend_schema(
        operation_id="handoffs_pass",
        summary="Pass on a handoff routing offered you",
        description=(
            "The offer ends and the handoff waits in the whole team's queue. A 409 when it is not (or no longer) "
            "offered to you."
        ),
        request=None,
        tags=["sales"],
        responses={200: QueueItemSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.READ_ERRORS},
    )
    def post(self, request, pk: int):
        handoff = get_object_or_404(Handoff, pk=pk)
        handoffs.handoff_decline_offer(handoff_id=handoff.pk, user=request.user)
        handoff = Handoff.objects.select_related("lead", "lead__owner", "offered_to").get(pk=handoff.pk)
        return Response(QueueItemSerializer(handoff, context={"request": request}).data)


class RejectInSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=handoffs.RejectOutcome.CHOICES)
    reason = serializers.CharField(max_length=2000)


class LeadActionView(ApiView):
    """A POST action on one lead: the body validated by serializer_class, the lead visible to the caller."""

    access = {"POST": (WRITE, SALES, True)}

    def visible_lead_and_data(self, request, pk: int) -> tuple[Lead, dict]:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = self.lead_or_404(pk)
        check_can_view(request, lead)
        return lead, serializer.validated_data


class LeadRejectView(LeadActionView):
    serializer_class = RejectInSerializer

    @extend_schema(
        operation_id="leads_reject_handoff",
        summary="Reject a handoff: recycle to marketing or disqualify, with a reason",
        description=(
            "`recycle` sends the lead back to marketing (MQL), `disqualify` takes it out of the funnel; an upgrade "
            "(service-qualified) turned down goes back to customer. The reason is kept with the stage change."
        ),
        tags=["sales"],
        responses={200: LeadActionOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        lead, data = self.visible_lead_and_data(request, pk)
        handoffs.handoff_reject(lead_id=lead.pk, user=request.user, outcome=data["outcome"], reason=data["reason"])
        return Response(_lead_out(lead.pk))


class CloseInSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional: how it was won (plan, amount, what closed it), kept with the stage change.",
    )


class LeadCloseView(LeadActionView):
    serializer_class = CloseInSerializer

    @extend_schema(
        operation_id="leads_close_won",
        summary="Close a claimed lead as customer",
        description="Only the rep who claimed the lead (or an admin) closes it; claim an unclaimed lead first.",
        tags=["sales"],
        responses={200: LeadActionOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        lead, data = self.visible_lead_and_data(request, pk)
        handoffs.lead_close_won(lead_id=lead.pk, user=request.user, reason=data["reason"])
        return Response(_lead_out(lead.pk))


class NextStepInSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=200, allow_blank=True)
    due = serializers.DateField(allow_null=True, required=False)


class LeadNextStepView(LeadActionView):
    serializer_class = NextStepInSerializer

    @extend_schema(
        operation_id="leads_next_step",
        summary="Set the next step of a lead the rep owns",
        description="A short text and an optional due date; My leads sorts by how urgent it is.",
        tags=["sales"],
        responses={200: LeadActionOutSerializer, 404: docs.E404, **docs.WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        lead, data = self.visible_lead_and_data(request, pk)
        handoffs.lead_set_next_step(lead_id=lead.pk, user=request.user, text=data["text"], due=data.get("due"))
        return Response(_lead_out(lead.pk))


class UpgradeInterestInSerializer(serializers.Serializer):
    wants = serializers.CharField(max_length=200)
    urgency = serializers.ChoiceField(choices=UpgradeUrgency.choices, default=UpgradeUrgency.MEDIUM)
    note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")
    consent = serializers.BooleanField(
        help_text="Must be true: the customer agreed to be contacted by sales (stored on the flag)."
    )

    def validate_consent(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError("Ask the customer first: sales contacts only customers who agreed to it.")
        return value


class UpgradeFlagSerializer(serializers.ModelSerializer):
    class Meta:
        model = UpgradeFlag
        fields = ["id", "wants", "urgency", "note", "contact_consent", "created_at"]
        read_only_fields = fields


class UpgradeInterestOutSerializer(serializers.Serializer):
    lead = LeadListSerializer()
    handoff = HandoffSerializer(allow_null=True)
    flag = UpgradeFlagSerializer()


class LeadUpgradeInterestView(LeadActionView):
    access = {"POST": (WRITE, (Role.SERVICE,), True)}
    serializer_class = UpgradeInterestInSerializer

    @extend_schema(
        operation_id="leads_flag_upgrade_interest",
        summary="Flag a customer's upgrade interest (service)",
        description=(
            "The customer becomes service-qualified and a service -> sales handoff opens in the queue. `consent` "
            "must be true (the customer agreed to be contacted by sales): it is stored on the flag."
        ),
        tags=["service"],
        responses={201: UpgradeInterestOutSerializer, 404: docs.E404, 409: docs.E409_MOVE, **docs.WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        lead, data = self.visible_lead_and_data(request, pk)
        result = handoffs.upgrade_flag(
            lead_id=lead.pk,
            user=request.user,
            wants=data["wants"],
            urgency=data["urgency"],
            consent=data["consent"],
            note=data["note"],
        )
        body = {
            **_lead_out(lead.pk),
            "handoff": HandoffSerializer(result.handoff).data if result.handoff else None,
            "flag": UpgradeFlagSerializer(result.flag).data,
        }
        return Response(body, status=201)


# Described inline: a named enum component "KindEnum" would collide with the handoff's kind.
@extend_schema_field({"type": "string", "enum": NoteKind.values, "default": NoteKind.NOTE.value})
class NoteKindField(serializers.ChoiceField):
    pass


class NoteInSerializer(serializers.Serializer):
    kind = NoteKindField(choices=NoteKind.choices, default=NoteKind.NOTE, help_text="note, call or email")
    body = serializers.CharField(max_length=10000)


class NoteOutSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Note
        fields = ["id", "kind", "body", "author", "created_at"]
        read_only_fields = fields

    def get_author(self, note) -> str | None:
        user = note.author
        return (user.get_full_name() or user.get_username()) if user else None


class LeadNoteView(LeadActionView):
    access = {"POST": (WRITE, EVERY_ROLE, True)}
    serializer_class = NoteInSerializer

    @extend_schema(
        operation_id="leads_add_note",
        summary="Add a note, or log a call or an email, on a lead's timeline",
        description="Anyone who may see the lead. The note becomes the lead's last activity.",
        tags=["leads"],
        responses={201: NoteOutSerializer, 404: docs.E404, **docs.WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        lead, data = self.visible_lead_and_data(request, pk)
        note = note_add(lead=lead, author=request.user, kind=data["kind"], body=data["body"])
        return Response(NoteOutSerializer(note).data, status=201)


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "text", "url", "created_at", "read_at"]
        read_only_fields = fields


class NotificationsOutSerializer(serializers.Serializer):
    results = NotificationSerializer(many=True)
    unread = serializers.IntegerField()


class NotificationsView(ApiView):
    access = {"GET": (READ, EVERY_ROLE, True)}
    serializer_class = NotificationsOutSerializer

    @extend_schema(
        operation_id="notifications_list",
        summary="My newest notifications and the unread count",
        description="In-app notifications (SLA breaches of the sales queue), newest first, read ones included.",
        tags=["notifications"],
        responses={200: NotificationsOutSerializer, **docs.READ_ERRORS},
    )
    def get(self, request):
        items, unread = sales_selectors.notifications_for(user=request.user, limit=50)
        return Response({"results": NotificationSerializer(items, many=True).data, "unread": unread})


class NotificationsReadInSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="One notification; without it, all of them."
    )


class NotificationsReadView(ApiView):
    access = {"POST": (WRITE, EVERY_ROLE, True)}
    serializer_class = NotificationsReadInSerializer

    @extend_schema(
        operation_id="notifications_mark_read",
        summary="Mark one notification, or all, as read",
        description="With `id`, that notification (if it is yours); without, every unread one. Answers the new list.",
        tags=["notifications"],
        responses={200: NotificationsOutSerializer, **docs.WRITE_ERRORS},
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        handoffs.notification_mark_read(user=request.user, notification_id=serializer.validated_data.get("id"))
        items, unread = sales_selectors.notifications_for(user=request.user, limit=50)
        return Response({"results": NotificationSerializer(items, many=True).data, "unread": unread})

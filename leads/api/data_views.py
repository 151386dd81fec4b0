"""API of data in and out (issue 7): a person's data export and erasure (admins only)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from .. import privacy
from ..models import Lead
from ..roles import Role
from . import schema as docs
from .auth import actor_for
from .permissions import READ, WRITE
from .views import ApiView


class ErasureInSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="A ticket reference; never personal data."
    )


class ErasureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lead_id_erased = serializers.IntegerField()
    reason = serializers.CharField()
    counts = serializers.DictField()
    suppressed = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class PersonExportView(ApiView):
    access = {"GET": (READ, (Role.ADMIN,), True)}
    serializer_class = None

    @extend_schema(
        operation_id="privacy_export",
        summary="Export everything known about one person",
        description=(
            "Profile, submissions, events, stage history, handoffs, notes and upgrade flags as JSON. Admins only."
        ),
        responses={200: OpenApiResponse(description="The person's data."), 404: docs.E404, **docs.READ_ERRORS},
        tags=["privacy"],
    )
    def get(self, request, pk: int):
        lead = get_object_or_404(Lead, pk=pk)
        response = Response(privacy.person_export(lead_id=lead.pk))
        response["Content-Disposition"] = f'attachment; filename="lead-{lead.pk}-export.json"'
        return response


class PersonEraseView(ApiView):
    access = {"POST": (WRITE, (Role.ADMIN,), True)}
    serializer_class = ErasureInSerializer

    @extend_schema(
        operation_id="privacy_erase",
        summary="Erase a person",
        description=(
            "Deletes the lead with its submissions, events, stage history, handoffs and notes, records the "
            "erasure without personal data and, with the suppression setting on, refuses the address later. "
            "Admins only."
        ),
        request=ErasureInSerializer,
        responses={200: ErasureSerializer, 404: docs.E404, **docs.WRITE_ERRORS},
        tags=["privacy"],
    )
    def post(self, request, pk: int):
        lead = get_object_or_404(Lead, pk=pk)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor, label = actor_for(request)
        erasure = privacy.person_erase(
            lead_id=lead.pk, actor=actor, actor_label=label, reason=data.validated_data.get("reason", "")
        )
        return Response({"erasure": ErasureSerializer(erasure).data})

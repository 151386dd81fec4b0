"""API of data in and out (issue 7): CSV import, and a person's data export and erasure (admins only)."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from .. import imports, merge, privacy
from ..models import ImportJob, ImportMode, Lead
from ..roles import Role
from . import schema as docs
from .auth import actor_for
from .errors import MAX_ROW_ID, PayloadTooLarge
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


class ErasureOutSerializer(serializers.Serializer):
    erasure = ErasureSerializer()


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
        responses={200: ErasureOutSerializer, 404: docs.E404, **docs.WRITE_ERRORS},
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


# --- CSV import -------------------------------------------------------------------------------


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    file_name = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    encoding = serializers.CharField()
    delimiter = serializers.CharField()
    headers = serializers.ListField(child=serializers.CharField())
    mapping = serializers.ListField(child=serializers.CharField(allow_blank=True))
    mode = serializers.CharField()
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    percent = serializers.IntegerField()
    created = serializers.IntegerField(source="created_count")
    updated = serializers.IntegerField(source="updated_count")
    skipped = serializers.IntegerField(source="skipped_count")
    failed = serializers.IntegerField(source="failed_count")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV file of up to 50 MB and 500,000 rows.")


class ImportStartSerializer(serializers.Serializer):
    mapping = serializers.JSONField(
        required=False,
        help_text="The lead field of each column: a list in column order, or {header: field}. Default: the guess.",
    )
    mode = serializers.ChoiceField(choices=ImportMode.choices, default=ImportMode.UPDATE_EMPTY)


def _job_or_404(request, pk: int) -> ImportJob:
    return get_object_or_404(ImportJob, pk=pk)


def _file_error(exc: imports.ImportFileError):
    return ValidationError({"file": [str(exc)]})


IMPORT_ROLES = (Role.MARKETING,)


class ImportListView(ApiView):
    access = {"POST": (WRITE, IMPORT_ROLES, False)}
    parser_classes = [MultiPartParser]
    serializer_class = ImportUploadSerializer

    @extend_schema(
        operation_id="imports_create",
        summary="Upload a CSV file to import",
        description=(
            "Stores the file and reads its first rows: encoding, delimiter, headers, a guess of the mapping and "
            "ten sample rows. Nothing is imported until the job is started. A file that cannot be read is refused "
            "with a 400 that says why."
        ),
        request={"multipart/form-data": ImportUploadSerializer},
        responses={201: ImportJobSerializer, **docs.WRITE_ERRORS},
        tags=["imports"],
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["Attach the CSV file as `file`."]})
        if upload.size > imports.MAX_FILE_BYTES:
            raise PayloadTooLarge("The file is larger than 50 MB.")
        actor, _ = actor_for(request)
        try:
            job = imports.import_upload(file_name=upload.name, raw=upload.read(), user=actor)
            sample = imports.import_sample(job=job)
        except imports.ImportFileError as exc:
            raise _file_error(exc) from exc
        body = ImportJobSerializer(job).data
        body.update(sample=sample, fields=imports.IMPORTABLE_FIELDS)
        return Response(body, status=201)


class ImportDetailView(ApiView):
    access = {"GET": (READ, IMPORT_ROLES, False)}
    serializer_class = None

    @extend_schema(
        operation_id="imports_retrieve",
        summary="An import's status, progress and counts",
        description="Poll it while the import runs: processed rows, percent, and created/updated/skipped/failed.",
        responses={200: ImportJobSerializer, 404: docs.E404, **docs.READ_ERRORS},
        tags=["imports"],
    )
    def get(self, request, pk: int):
        return Response(ImportJobSerializer(_job_or_404(request, pk)).data)


class ImportStartView(ApiView):
    access = {"POST": (WRITE, IMPORT_ROLES, False)}
    serializer_class = ImportStartSerializer

    @extend_schema(
        operation_id="imports_start",
        summary="Map the columns, check every row and start the import",
        description=(
            "Saves the mapping and the mode (update_empty, overwrite or skip), reads every row without writing "
            "(the `review`: what would be created, updated, skipped and failed) and queues the import. Poll the "
            "job for progress; starting twice runs it once."
        ),
        request=ImportStartSerializer,
        responses={202: ImportJobSerializer, 404: docs.E404, **docs.WRITE_ERRORS},
        tags=["imports"],
    )
    def post(self, request, pk: int):
        job = _job_or_404(request, pk)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        mapping = data.validated_data.get("mapping", job.mapping)
        if isinstance(mapping, dict):
            mapping = [str(mapping.get(header, "") or "") for header in job.headers]
        if not isinstance(mapping, list) or not all(isinstance(name, str) for name in mapping):
            raise ValidationError({"mapping": ["A list of field names, or an object {header: field}."]})
        try:
            job = imports.import_set_mapping(job_id=job.pk, mapping=mapping, mode=data.validated_data["mode"])
            review = imports.import_review(job=job)
        except imports.ImportFileError as exc:
            raise _file_error(exc) from exc
        job = imports.import_start(job_id=job.pk)
        body = ImportJobSerializer(job).data
        body["review"] = {
            "total": review.total,
            "create": review.create,
            "update": review.update,
            "skip": review.skip,
            "fail": review.fail,
        }
        return Response(body, status=202)


class ImportErrorsView(ApiView):
    access = {"GET": (READ, IMPORT_ROLES, False)}
    serializer_class = None

    @extend_schema(
        operation_id="imports_errors",
        summary="The rows an import did not write, as CSV",
        description="One row per failed row: its line in the file, the reason, and its cells. The count is `failed`.",
        responses={
            (200, "text/csv"): OpenApiResponse(description="The error report."),
            404: docs.E404,
            **docs.READ_ERRORS,
        },
        tags=["imports"],
    )
    def get(self, request, pk: int):
        job = _job_or_404(request, pk)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        imports.import_error_csv(job=job, out=response)
        return response


# --- Duplicates and merge ---------------------------------------------------------------------


class SuggestionSerializer(serializers.Serializer):
    lead_ids = serializers.ListField(child=serializers.IntegerField())
    reason = serializers.CharField()


class SuggestionPageSerializer(serializers.Serializer):
    results = SuggestionSerializer(many=True)


class MergeInSerializer(serializers.Serializer):
    other_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ROW_ID, help_text="The lead merged into this one (and then deleted)."
    )
    take_from_other = serializers.ListField(
        child=serializers.ChoiceField(choices=merge.MERGEABLE_FIELDS),
        required=False,
        default=list,
        help_text="Fields that take the other lead's value; every other field keeps this lead's (empty ones are "
        "filled from the other).",
    )


class DuplicateListView(ApiView):
    access = {"GET": (READ, (Role.MARKETING,), False)}
    serializer_class = None

    @extend_schema(
        operation_id="leads_duplicates",
        summary="Likely duplicates",
        description="Pairs of leads that are probably one person: the same phone, the same name and email "
        "domain, or nearly the same name at one company.",
        responses={200: SuggestionPageSerializer, **docs.READ_ERRORS},
        tags=["leads"],
    )
    def get(self, request):
        suggestions = merge.duplicate_suggestions()
        return Response({"results": [{"lead_ids": list(s.lead_ids), "reason": s.reason} for s in suggestions]})


class LeadMergeView(ApiView):
    access = {"POST": (WRITE, (Role.MARKETING,), True)}
    serializer_class = MergeInSerializer

    @extend_schema(
        operation_id="leads_merge",
        summary="Merge another lead into this one",
        description="Moves the other lead's events, notes, stage history and handoffs to this lead, takes the "
        "chosen fields, deletes the other lead, records the merge on the timeline and recomputes the score. "
        "409 when the merge is refused (the same lead, or leads owned by different reps).",
        request=MergeInSerializer,
        responses={
            200: OpenApiResponse(description="The merged lead."),
            404: docs.E404,
            409: OpenApiResponse(docs.ErrorSerializer, description="The merge is refused; the message says why."),
            **docs.WRITE_ERRORS,
        },
        tags=["leads"],
    )
    def post(self, request, pk: int):
        survivor = get_object_or_404(Lead, pk=pk)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor, label = actor_for(request)
        result = merge.lead_merge(
            survivor_id=survivor.pk,
            other_id=data.validated_data["other_id"],
            take_from_other=data.validated_data["take_from_other"],
            actor=actor,
            actor_label=label,
        )
        lead = result.survivor
        return Response(
            {
                "lead": {"id": lead.pk, "email": lead.email, "stage": lead.stage}
                | {name: getattr(lead, name) for name in merge.MERGEABLE_FIELDS},
                "merged_lead_id": result.merged_lead_id,
                "moved": result.moved,
            }
        )

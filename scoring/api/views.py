"""The scoring API: rules, thresholds, versions, what-if preview, publishing and its progress.

Marketing and admins only. Each view validates, calls one service or selector, serializes.
"""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api.auth import request_api_key
from leads.api.errors import check_url_ids
from leads.api.serializers import ErrorSerializer
from leads.models import ApiKey, Lead
from leads.roles import Role, has_role

from .. import preview, selectors, services
from ..models import EngagementRule, FitRule, RuleSet
from .serializers import (
    EngagementRuleSerializer,
    FitRuleSerializer,
    LeadScoreSerializer,
    PreviewSerializer,
    RescoreJobSerializer,
    RuleSetSerializer,
    RuleSetUpdateSerializer,
)

TAG = ["scoring"]
RECENT_JOBS = 50


class IsMarketingOrAdmin(permissions.BasePermission):
    message = "Only marketing and admins manage scoring."

    def has_permission(self, request, view) -> bool:
        user = request.user
        # People only: an integration's API key is not a marketer.
        if not (isinstance(user, get_user_model()) and user.is_authenticated and has_role(user, Role.MARKETING)):
            return False
        # A personal token is also bound by its scopes: read to look, write to change.
        api_key = request_api_key(request)
        scope = ApiKey.Scope.READ if request.method in permissions.SAFE_METHODS else ApiKey.Scope.WRITE
        if api_key is not None and scope not in api_key.scopes:
            self.message = f"This API key lacks the `{scope}` scope."
            return False
        return True


class ScoringView(APIView):
    permission_classes = [IsMarketingOrAdmin]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        check_url_ids(kwargs)


INVALID = OpenApiResponse(ErrorSerializer, description="Invalid input: the errors name the fields.")
NOT_DRAFT = OpenApiResponse(
    ErrorSerializer, description="Not the draft: published and archived versions cannot change."
)


def _ruleset(ruleset_id: int) -> RuleSet:
    try:
        return selectors.ruleset_get(ruleset_id=ruleset_id)
    except RuleSet.DoesNotExist as error:
        raise NotFound("No such rule set.") from error


class RuleSetListView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="Rule sets: the draft and every published version",
        description=(
            "The draft (if any) first, then every published version, newest first, each with its thresholds, "
            "engagement rules and fit rules. Marketing and admins only."
        ),
        responses=RuleSetSerializer(many=True),
    )
    def get(self, request):
        return Response(RuleSetSerializer(selectors.ruleset_list(), many=True).data)


class RuleSetDraftView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="Start (or get) the draft",
        description="Returns the draft, creating it as a copy of the published version if there is none.",
        request=None,
        responses={200: RuleSetSerializer},
    )
    def post(self, request):
        draft = services.ruleset_create_draft(user=request.user)
        return Response(RuleSetSerializer(selectors.ruleset_get(ruleset_id=draft.pk)).data)


class RuleSetDetailView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="One rule set with its rules and thresholds",
        description=(
            "A rule set (draft, published or archived) with its MQL and PQL thresholds, PQL signal and high-"
            "intent event types, engagement rules and fit rules."
        ),
        responses=RuleSetSerializer,
    )
    def get(self, request, ruleset_id: int):
        return Response(RuleSetSerializer(_ruleset(ruleset_id)).data)

    @extend_schema(
        tags=TAG,
        summary="Change the draft's name and thresholds",
        description=(
            "Partial update of the draft: name, notes, MQL threshold, PQL threshold, PQL signal event types, "
            "high-intent event types. A published or archived version answers 409."
        ),
        request=RuleSetUpdateSerializer,
        responses={200: RuleSetSerializer, 400: INVALID, 409: NOT_DRAFT},
    )
    def patch(self, request, ruleset_id: int):
        serializer = RuleSetUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        ruleset = services.ruleset_update(ruleset=_ruleset(ruleset_id), **serializer.validated_data)
        return Response(RuleSetSerializer(selectors.ruleset_get(ruleset_id=ruleset.pk)).data)

    @extend_schema(
        tags=TAG,
        summary="Discard the draft",
        description=(
            "Deletes the draft and its rules; the published version is untouched. A published or archived version"
            " answers 409."
        ),
        responses={204: None, 409: NOT_DRAFT},
    )
    def delete(self, request, ruleset_id: int):
        services.ruleset_discard_draft(ruleset=_ruleset(ruleset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class _RuleListView(ScoringView):
    model = EngagementRule
    serializer_class = EngagementRuleSerializer
    create_service = staticmethod(services.engagement_rule_create)
    related_name = "engagement_rules"

    def get(self, request, ruleset_id: int):
        ruleset = _ruleset(ruleset_id)
        return Response(self.serializer_class(getattr(ruleset, self.related_name).all(), many=True).data)

    def post(self, request, ruleset_id: int):
        ruleset = _ruleset(ruleset_id)
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = self.create_service(ruleset=ruleset, **serializer.validated_data)
        return Response(self.serializer_class(rule).data, status=status.HTTP_201_CREATED)


class _RuleDetailView(ScoringView):
    model = EngagementRule
    serializer_class = EngagementRuleSerializer
    update_service = staticmethod(services.engagement_rule_update)
    delete_service = staticmethod(services.engagement_rule_delete)

    def _rule(self, ruleset_id: int, rule_id: int):
        return get_object_or_404(self.model.objects.select_related("ruleset"), pk=rule_id, ruleset_id=ruleset_id)

    def get(self, request, ruleset_id: int, rule_id: int):
        return Response(self.serializer_class(self._rule(ruleset_id, rule_id)).data)

    def patch(self, request, ruleset_id: int, rule_id: int):
        rule = self._rule(ruleset_id, rule_id)
        serializer = self.serializer_class(rule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rule = self.update_service(rule=rule, **serializer.validated_data)
        return Response(self.serializer_class(rule).data)

    def delete(self, request, ruleset_id: int, rule_id: int):
        self.delete_service(rule=self._rule(ruleset_id, rule_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _own(method):
    """A copy of a shared view method: extend_schema annotates the function object, so the engagement
    and fit rule views must not share one (the last annotation would document both)."""

    def view_method(self, *args, **kwargs):
        return method(self, *args, **kwargs)

    return view_method


def _rule_views(kind: str, model, serializer, create, update, delete):
    """The list and detail views of one kind of rule, documented under its own name."""
    label = kind.replace("-", " ")
    list_view = type(
        f"{model.__name__}ListView",
        (_RuleListView,),
        {
            "model": model,
            "serializer_class": serializer,
            "create_service": staticmethod(create),
            "related_name": model._meta.get_field("ruleset").remote_field.related_name,
        },
    )
    list_view.get = extend_schema(
        tags=TAG,
        summary=f"List the {label}",
        description=f"The {label} of a rule set, in their order. Any version can be read; only the draft changes.",
        responses=serializer(many=True),
    )(_own(list_view.get))
    list_view.post = extend_schema(
        tags=TAG,
        summary=f"Add one of the draft's {label}",
        description=f"Adds to the draft's {label}; validated by kind. A published or archived version answers 409.",
        request=serializer,
        responses={201: serializer, 400: INVALID, 409: NOT_DRAFT},
    )(_own(list_view.post))
    detail_view = type(
        f"{model.__name__}DetailView",
        (_RuleDetailView,),
        {
            "model": model,
            "serializer_class": serializer,
            "update_service": staticmethod(update),
            "delete_service": staticmethod(delete),
        },
    )
    detail_view.get = extend_schema(
        tags=TAG,
        summary=f"One of the {label}",
        description=f"One of a rule set's {label}, with its condition and points.",
        responses=serializer,
    )(_own(detail_view.get))
    detail_view.patch = extend_schema(
        tags=TAG,
        summary=f"Change one of the draft's {label}",
        description=f"Partial update of one of the draft's {label}. A published or archived version answers 409.",
        request=serializer,
        responses={200: serializer, 400: INVALID, 409: NOT_DRAFT},
    )(_own(detail_view.patch))
    detail_view.delete = extend_schema(
        tags=TAG,
        summary=f"Remove one of the draft's {label}",
        description=f"Deletes one of the draft's {label}. A published or archived version answers 409.",
        responses={204: None, 409: NOT_DRAFT},
    )(_own(detail_view.delete))
    return list_view, detail_view


EngagementRuleListView, EngagementRuleDetailView = _rule_views(
    "engagement-rules",
    EngagementRule,
    EngagementRuleSerializer,
    services.engagement_rule_create,
    services.engagement_rule_update,
    services.engagement_rule_delete,
)
FitRuleListView, FitRuleDetailView = _rule_views(
    "fit-rules",
    FitRule,
    FitRuleSerializer,
    services.fit_rule_create,
    services.fit_rule_update,
    services.fit_rule_delete,
)


class RuleSetPreviewView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="What-if preview",
        description=(
            "Scores every lead with this rule set (usually the draft) without saving anything, and compares "
            "with the stored scores: the score distribution before and after, and how many leads would move "
            "to MQL, PQL or SQL."
        ),
        responses=PreviewSerializer,
    )
    def get(self, request, ruleset_id: int):
        return Response(preview.ruleset_preview(ruleset=_ruleset(ruleset_id)))


class RuleSetPublishView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="Publish the draft",
        description=(
            "The draft becomes the next version and the previous one goes to the history. Every lead is "
            "rescored in the background; follow the returned job for progress."
        ),
        request=None,
        responses={
            202: RescoreJobSerializer,
            409: OpenApiResponse(response=ErrorSerializer, description="Not a draft."),
        },
    )
    def post(self, request, ruleset_id: int):
        job = services.ruleset_publish(ruleset_id=_ruleset(ruleset_id).pk, user=request.user)
        return Response(RescoreJobSerializer(selectors.rescore_job_get(job_id=job.pk)).data, status=202)


class RescoreJobListView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="Recent rescore jobs with their progress",
        description=(
            "The latest rescore jobs (publishing, the daily decay refresh), newest first, with leads done out of "
            "the total, leads moved, status and progress from 0 to 1."
        ),
        responses=RescoreJobSerializer(many=True),
    )
    def get(self, request):
        return Response(RescoreJobSerializer(selectors.rescore_job_list()[:RECENT_JOBS], many=True).data)


class RescoreJobDetailView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="One rescore job's progress",
        description=(
            "Poll this after publishing: status (running, done, cancelled), leads done out of the total, leads "
            "moved to another stage and progress from 0 to 1."
        ),
        responses=RescoreJobSerializer,
    )
    def get(self, request, job_id: int):
        job = get_object_or_404(selectors.rescore_job_list(), pk=job_id)
        return Response(RescoreJobSerializer(job).data)


class LeadScoreView(ScoringView):
    @extend_schema(
        tags=TAG,
        summary="A lead's score and the rules that made it",
        description=(
            "The stored fit, engagement and total score of a lead, the rule-set version that made it, when, "
            "whether it is waiting for a recompute, and the breakdown naming each rule and its points."
        ),
        responses=LeadScoreSerializer,
    )
    def get(self, request, lead_id: int):
        try:
            explained = selectors.lead_score_explain(lead_id=lead_id)
        except Lead.DoesNotExist as error:
            raise NotFound("No such lead.") from error
        return Response(LeadScoreSerializer(explained).data)

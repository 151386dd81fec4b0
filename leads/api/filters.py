"""Filters of GET /api/v1/leads/. Each has an index (leads.models.Lead.Meta, migration 0020 for text)."""

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from ..models import Lead
from ..stages import STAGE_CHOICES
from ..text_search import containing, matches_are_few


class LeadFilter(django_filters.FilterSet):
    # distinct=False: django-filter's default adds SELECT DISTINCT, which here (no join) only
    # forced a sort of every matching row over every column before the page's LIMIT.
    stage = django_filters.MultipleChoiceFilter(
        choices=STAGE_CHOICES, distinct=False, help_text="One or more stages (repeat the parameter)."
    )
    owner = django_filters.CharFilter(method="filter_owner", help_text="A user id, or `me` for yourself.")
    unowned = django_filters.BooleanFilter(
        field_name="owner", lookup_expr="isnull", help_text="Only leads nobody owns."
    )
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    source = django_filters.CharFilter(field_name="source")
    country = django_filters.CharFilter(method="filter_country", help_text="ISO 3166-1 alpha-2 code.")
    industry = django_filters.CharFilter(field_name="industry")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    last_activity_after = django_filters.IsoDateTimeFilter(field_name="last_activity_at", lookup_expr="gte")
    last_activity_before = django_filters.IsoDateTimeFilter(field_name="last_activity_at", lookup_expr="lt")
    q = django_filters.CharFilter(
        method="filter_text", max_length=100, help_text="Text search in name, email and company (case-insensitive)."
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def filter_owner(self, queryset, name, value):
        if value == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(owner_id=user.pk) if user is not None and user.pk else queryset.none()
        if not value.isdigit():
            raise ValidationError({"owner": ["A user id or `me`."]})
        return queryset.filter(owner_id=int(value))

    def filter_country(self, queryset, name, value):
        return queryset.filter(country=value.upper())

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # The whole term (not word by word); the trigram index of migration 0020 serves it.
        return containing(queryset, [value])


def text_search_is_narrow(leads: QuerySet, request, *, page_rows: int) -> bool:
    """Whether the list's text search is better served by collecting its matches first
    (leads.text_search, leads.api.pagination)."""
    term = (request.query_params.get("q") or "").strip()
    return bool(term) and matches_are_few(leads, terms=[term], page_rows=page_rows)

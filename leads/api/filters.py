"""Filters of GET /api/v1/leads/. Each has an index (leads.models.Lead.Meta, migrations 0003 and 0017 for text)."""

import json

import django_filters
from django.db import connection
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

from ..models import Lead
from ..stages import STAGE_CHOICES

# pg_trgm needs 3 characters to use its index: a shorter search term is a scan either way.
TRIGRAM_LENGTH = 3
# How a text search's page is found (leads.api.pagination): walking the sort index passes about
# page_rows * rows / matches rows before it has a page; collecting the matches first visits each match
# once (a heap page each, and the recheck). Both cost about the same per row visited, so matches
# first wins where matches * matches < page_rows * rows: at 1,000,000 leads and pages of 51 rows,
# below ~7,100 matches. (Measured there: a last name with 12,500 matches, warm, walk 33 ms vs
# matches first 102 ms; a rare term, walk reads the whole index.) The walk can pass more rows than
# that on a bad day (all the newest leads fail to match, say): it stays linear in the rows passed.


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
        # Each condition is served by a trigram index on PostgreSQL (migration 0017).
        return queryset.filter(
            Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(company__icontains=value)
        )


def text_search_is_narrow(leads: QuerySet, request, *, page_rows: int) -> bool:
    """Whether the list's text search is better served by collecting its matches first (see
    leads.api.pagination): a term the trigram indexes serve, with few enough matches by the
    planner's estimate, against the table's size (an upper bound of the rows a walk passes, so a
    doubt favours matches first). Costs one EXPLAIN (planning only, no rows read), only for a search."""
    term = (request.query_params.get("q") or "").strip()
    if connection.vendor != "postgresql" or len(term) < TRIGRAM_LENGTH:
        return False
    both = leads.order_by().values("pk").union(Lead.objects.order_by().values("pk"), all=True)
    plan = json.loads(both.explain(format="json"))[0]["Plan"]
    if plan["Node Type"] != "Append" or len(plan.get("Plans", ())) != 2:
        return False  # a branch the planner proved empty: nothing to collect
    searched, everything = plan["Plans"]
    matches = searched["Plan Rows"]
    return matches * matches < page_rows * everything["Plan Rows"]

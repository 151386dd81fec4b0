"""Django admin for staff: rule sets with their rules inline (drafts only editable), rescore jobs read-only.

Marketers edit rules through the API and the marketing workspace; the admin is the staff's view.
"""

from django.contrib import admin

from .models import EngagementRule, FitRule, RescoreJob, RuleSet


class _DraftOnlyInline(admin.TabularInline):
    extra = 0

    def has_add_permission(self, request, obj=None):
        return obj is not None and obj.is_draft and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.is_draft) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.is_draft) and super().has_delete_permission(request, obj)


class EngagementRuleInline(_DraftOnlyInline):
    model = EngagementRule
    fields = [
        "position",
        "name",
        "event_type",
        "property_key",
        "property_operator",
        "property_value",
        "points",
        "cap",
        "half_life_days",
    ]


class FitRuleInline(_DraftOnlyInline):
    model = FitRule
    fields = ["position", "name", "kind", "values", "threshold", "points"]


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "name", "status", "version", "mql_threshold", "pql_threshold", "published_at"]
    list_filter = ["status"]
    inlines = [FitRuleInline, EngagementRuleInline]
    readonly_fields = ["status", "version", "based_on", "created_at", "created_by", "published_at", "published_by"]
    fields = [
        "name",
        "notes",
        "mql_threshold",
        "pql_threshold",
        "pql_event_types",
        "high_intent_event_types",
        *readonly_fields,
    ]

    def has_change_permission(self, request, obj=None):
        # Published versions are history: publishing goes through the API (it starts the rescore).
        return (obj is None or obj.is_draft) and super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.is_draft and super().has_delete_permission(request, obj)


@admin.register(RescoreJob)
class RescoreJobAdmin(admin.ModelAdmin):
    list_display = ["id", "ruleset", "reason", "status", "done", "total", "moved", "created_at", "finished_at"]
    list_filter = ["status", "reason"]
    list_select_related = ["ruleset"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

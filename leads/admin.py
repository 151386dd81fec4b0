from .api import admin as api_admin  # noqa: F401, I001  (registers the ApiKey admin)
from . import data_admin  # noqa: F401  (registers webhooks and erasures)
from . import user_admin  # noqa: F401  (the users admin with the off-boarding action)
from . import audit_admin  # noqa: F401  (registers the read-only audit log)

# The Django admin for staff: every leads model, with the lifecycle's rules kept. Stage and score
# are read-only: a stage changes only through lead_transition (the "Move to stage" page calls it, so
# an admin move is checked and audited like any other) and scores are written by the scoring engine.
# Audit rows (StageChange) and handoffs cannot be added or deleted by hand; they go only with their
# lead when a lead is erased.

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from .exceptions import LeadError
from .models import (
    BulkMoveJob,
    EngagementEvent,
    Handoff,
    Lead,
    Note,
    Notification,
    RepProfile,
    RoutingRule,
    SavedView,
    SlaPolicy,
    StageChange,
    Submission,
    UpgradeFlag,
    normalize_email,
)
from .policy import why_not_move
from .services import lead_mark_score_stale, lead_transition
from .stages import STAGE_CHOICES, moves_from
from .text_search import containing
from .webhooks import webhook_leads_created

SCORE_FIELDS = [
    "score",
    "fit_score",
    "engagement_score",
    "score_breakdown",
    "score_ruleset_version",
    "scored_at",
    "score_stale",
    "score_stale_since",
]


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        # Contact, company, source and consent facts; stage, owner and score have their own doors.
        fields = [
            "email",
            "first_name",
            "last_name",
            "job_title",
            "phone",
            "company",
            "company_domain",
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
            "next_step",
            "next_step_due",
        ]

    def clean_email(self) -> str:
        # Normalize before the unique check: otherwise "Foo@x.com" passes it next to "foo@x.com"
        # and the database refuses it on save with a server error instead of a form error.
        return normalize_email(self.cleaned_data["email"])


class StageChangeInline(admin.TabularInline):
    model = StageChange
    fields = ["created_at", "from_stage", "to_stage", "actor", "actor_label", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Stage history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class HandoffInline(admin.TabularInline):
    model = Handoff
    fields = ["opened_at", "kind", "status", "due_at", "decided_by", "decided_at", "rejection_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("decided_by")

    def has_add_permission(self, request, obj=None):
        return False  # handoffs open through moves (lead_transition) and releases, never by hand

    def has_change_permission(self, request, obj=None):
        return False


class NoteInline(admin.StackedInline):
    model = Note
    fields = ["kind", "body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = ["email", "full_name", "company", "stage", "score", "owner", "created_at"]
    list_filter = [
        "stage",
        "source",
        "country",
        "industry",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "score_stale",
        "created_at",
    ]
    list_select_related = ["owner"]
    search_fields = ["email", "first_name", "last_name", "company"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False  # a second COUNT(*) over every lead on each filtered page
    readonly_fields = [
        "stage_with_move_link",
        "stage_changed_at",
        # The owner changes by claim and release, which keep handoffs and the queue in step.
        "owner",
        "claimed_at",
        *SCORE_FIELDS,
        "last_activity_at",
        "activity_links",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["email", ("first_name", "last_name"), "job_title", "phone"]}),
        ("Company", {"fields": ["company", "company_domain", "country", "industry", "company_size"]}),
        (
            "Lifecycle",
            {
                "fields": [
                    "stage_with_move_link",
                    "stage_changed_at",
                    "owner",
                    "claimed_at",
                    ("next_step", "next_step_due"),
                    "activity_links",
                ]
            },
        ),
        ("Score", {"fields": SCORE_FIELDS}),
        (
            "Source and consent",
            {
                "fields": [
                    "source",
                    ("utm_source", "utm_medium", "utm_campaign"),
                    ("utm_term", "utm_content"),
                    ("consent", "consent_at", "unsubscribed"),
                ]
            },
        ),
        ("Dates", {"fields": ["created_at", "updated_at", "last_activity_at"]}),
    ]
    inlines = [StageChangeInline, HandoffInline, NoteInline]

    def get_search_results(self, request, queryset, search_term):
        # The app's text search over search_fields (leads.text_search), which one trigram index
        # serves; Django's icontains per field has no index of its own and would read every lead.
        # The words as Django splits them: a quoted phrase is one word.
        words = [
            unescape_string_literal(bit) if bit.startswith(('"', "'")) and bit[0] == bit[-1] else bit
            for bit in smart_split(search_term)
        ]
        return containing(queryset, words), False

    @admin.display(description="Name")
    def full_name(self, lead: Lead) -> str:
        return lead.full_name

    @admin.display(description="Stage")
    def stage_with_move_link(self, lead: Lead) -> str:
        if lead.pk is None:
            return lead.stage_label
        url = reverse("admin:leads_lead_move", args=[lead.pk])
        return format_html('{} &nbsp; <a href="{}">Move to stage…</a>', lead.stage_label, url)

    @admin.display(description="Activity")
    def activity_links(self, lead: Lead) -> str:
        if lead.pk is None:
            return "-"
        events = reverse("admin:leads_engagementevent_changelist") + f"?lead__id__exact={lead.pk}"
        submissions = reverse("admin:leads_submission_changelist") + f"?lead__id__exact={lead.pk}"
        return format_html('<a href="{}">Engagement events</a> · <a href="{}">Submissions</a>', events, submissions)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # the admin's change view is atomic: the outbox row commits with the lead
            webhook_leads_created(lead_ids=[obj.pk])

    def save_formset(self, request, form, formset, change):
        notes = formset.save(commit=False)
        for note in notes:
            if isinstance(note, Note) and note.author_id is None:
                note.author = request.user
            note.save()
        for removed in formset.deleted_objects:
            removed.delete()
        formset.save_m2m()

    def get_deleted_objects(self, objs, request):
        # Stage history and handoffs are never deleted on their own, but they go with their lead
        # when a lead is erased (someone asked to be forgotten): that needs only delete_lead.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(StageChange._meta.verbose_name)
        perms_needed.discard(Handoff._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def get_urls(self):
        move = path(
            "<path:object_id>/move/",
            self.admin_site.admin_view(self.move_view),
            name="leads_lead_move",
        )
        return [move, *super().get_urls()]

    def move_view(self, request, object_id):
        """Move a lead through the transition service, exactly as the workspaces do."""
        lead = get_object_or_404(Lead, pk=unquote(object_id))
        if not self.has_change_permission(request, lead):
            raise PermissionDenied
        moves = moves_from(lead.stage)
        # Every stage is offered, so a refused choice gets the domain's own explanation.
        initial = {"expected_stage": lead.stage, "to_stage": moves[0].target if moves else ""}
        form = MoveStageForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            target = form.cleaned_data["to_stage"]
            try:
                if refusal := why_not_move(request.user, lead, target):
                    raise LeadError(refusal)
                lead_transition(
                    lead_id=lead.pk,
                    to_stage=target,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    expected_stage=form.cleaned_data["expected_stage"],
                )
            except LeadError as error:
                self.message_user(request, error.message, messages.ERROR)
                lead.refresh_from_db()  # a stale-stage refusal: show the stage it is in now
                moves = moves_from(lead.stage)
                form = MoveStageForm(initial={**form.cleaned_data, "expected_stage": lead.stage})
            else:
                lead.refresh_from_db()
                self.message_user(request, f"Moved to {lead.stage_label}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[lead.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move {lead} to another stage",
            "subtitle": None,
            "opts": self.opts,
            "original": lead,
            "form": form,
            "moves": moves,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/leads/lead/move_stage.html", context)


class MoveStageForm(forms.Form):
    to_stage = forms.ChoiceField(choices=STAGE_CHOICES, label="Move to stage")
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to recycle, disqualify or reopen; recorded in the stage history.",
    )
    # The stage the form was shown for: if the lead moved meanwhile, the move is refused.
    expected_stage = forms.ChoiceField(choices=STAGE_CHOICES, widget=forms.HiddenInput)


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    """The audit trail: read-only, written only by lead_transition."""

    list_display = ["created_at", "lead", "from_stage", "to_stage", "actor_display", "reason"]
    # Filters only where an index serves them (STYLE.md rule 9); filtering by stage would want
    # an index on (to_stage, created_at) first.
    list_filter = ["created_at"]
    list_select_related = ["lead", "actor"]
    search_fields = ["lead__email", "reason", "actor_label"]
    show_full_result_count = False

    @admin.display(description="By")
    def actor_display(self, change: StageChange) -> str:
        return change.actor_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "status", "opened_at", "due_at", "offered_to", "decided_by", "decided_at"]
    list_filter = ["status"]
    list_select_related = ["lead", "offered_to", "decided_by"]
    search_fields = ["lead__email", "lead__company", "reason"]
    raw_id_fields = ["offered_to"]
    show_full_result_count = False
    # Status and outcome change by claim, release and moves only; an admin may fix due time,
    # offer and reason.
    readonly_fields = [
        "lead",
        "kind",
        "from_team",
        "to_team",
        "status",
        "opened_at",
        "opened_by",
        "opened_by_label",
        "decided_by",
        "decided_at",
        "rejection_reason",
        "sla_breached_at",
    ]

    def has_add_permission(self, request):
        return False  # a handoff opens when a lead enters a sales stage (lead_transition)

    def has_delete_permission(self, request, obj=None):
        return False  # deleting an open handoff would strand its lead: in a sales stage, in no queue


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "author", "created_at"]
    list_select_related = ["lead", "author"]
    search_fields = ["lead__email", "body"]
    raw_id_fields = ["lead"]
    readonly_fields = ["author", "created_at"]

    def save_model(self, request, obj, form, change):
        if obj.author_id is None:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    """Submissions are kept exactly as received: only the link to their lead may be fixed."""

    list_display = ["form_name", "lead", "submitted_at", "received_at", "created_lead"]
    list_filter = ["form_name"]
    list_select_related = ["lead"]
    search_fields = ["form_name", "lead__email"]
    raw_id_fields = ["lead"]
    show_full_result_count = False
    readonly_fields = ["form_name", "payload", "page_url", "submitted_at", "received_at", "api_key", "created_lead"]

    def has_add_permission(self, request):
        return False


@admin.register(EngagementEvent)
class EngagementEventAdmin(admin.ModelAdmin):
    """Events are the facts scores are computed from: viewable, deletable, never edited."""

    list_display = ["lead", "event_type", "occurred_at", "source", "external_id"]
    list_select_related = ["lead"]
    search_fields = ["lead__email", "event_type", "external_id"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        lead_mark_score_stale(lead_ids=[obj.lead_id])  # the score counted this event

    def delete_queryset(self, request, queryset):
        lead_ids = list(queryset.values_list("lead_id", flat=True).distinct())
        super().delete_queryset(request, queryset)
        lead_mark_score_stale(lead_ids=lead_ids)


# ---- Sales and service workspaces (issue 6): what admins set, and what the workspaces record ----


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["kind", "hours_to_accept"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "active", "kind", "countries", "by_territory", "max_open_leads"]
    list_editable = ["position", "active"]
    filter_horizontal = ["reps"]


@admin.register(RepProfile)
class RepProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "away", "territories", "max_open_leads", "last_offered_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    readonly_fields = ["last_offered_at"]  # routing's round-robin bookkeeping


@admin.register(UpgradeFlag)
class UpgradeFlagAdmin(admin.ModelAdmin):
    """Flags open a handoff through the service workspace (leads.handoffs.upgrade_flag): view only."""

    list_display = ["lead", "wants", "urgency", "flagged_by", "created_at"]
    list_select_related = ["lead", "flagged_by"]
    search_fields = ["lead__email", "wants"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "text", "created_at", "read_at"]
    list_select_related = ["recipient"]
    search_fields = ["recipient__username", "text"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "query", "created_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username"]
    raw_id_fields = ["user"]


@admin.register(BulkMoveJob)
class BulkMoveJobAdmin(admin.ModelAdmin):
    """Read-only: a failed job's last error is here (its page tells the marketer to ask an admin)."""

    list_display = ["id", "action", "to_stage", "status", "done", "total", "failures", "created_by", "created_at"]
    list_filter = ["status", "action"]
    list_select_related = ["created_by"]
    readonly_fields = [f.name for f in BulkMoveJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

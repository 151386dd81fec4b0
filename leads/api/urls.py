from django.urls import path, re_path

from . import data_views, handoff_views, views
from .errors import not_found_view

urlpatterns = [
    path("submissions/", views.SubmissionCreateView.as_view(), name="api-submissions"),
    path("events/", views.EventCreateView.as_view(), name="api-events"),
    path("leads/", views.LeadListView.as_view(), name="api-leads"),
    path("leads/<int:pk>/", views.LeadDetailView.as_view(), name="api-lead"),
    path("leads/<int:pk>/transition/", views.LeadTransitionView.as_view(), name="api-lead-transition"),
    path("leads/<int:pk>/claim/", views.LeadClaimView.as_view(), name="api-lead-claim"),
    path("leads/<int:pk>/release/", views.LeadReleaseView.as_view(), name="api-lead-release"),
    path("leads/<int:pk>/events/", views.LeadEventsView.as_view(), name="api-lead-events"),
    path("pipeline/", views.PipelineView.as_view(), name="api-pipeline"),
    # The sales and service workspaces (leads/api/handoff_views.py).
    path("sales/queue/", handoff_views.SalesQueueView.as_view(), name="api-sales-queue"),
    path("sales/my-leads/", handoff_views.MyLeadsView.as_view(), name="api-sales-my-leads"),
    path("handoffs/<int:pk>/accept/", handoff_views.HandoffAcceptView.as_view(), name="api-handoff-accept"),
    path("handoffs/<int:pk>/pass/", handoff_views.HandoffPassView.as_view(), name="api-handoff-pass"),
    path("leads/<int:pk>/notes/", handoff_views.LeadNoteView.as_view(), name="api-lead-notes"),
    path("leads/<int:pk>/reject/", handoff_views.LeadRejectView.as_view(), name="api-lead-reject"),
    path("leads/<int:pk>/close/", handoff_views.LeadCloseView.as_view(), name="api-lead-close"),
    path("leads/<int:pk>/next-step/", handoff_views.LeadNextStepView.as_view(), name="api-lead-next-step"),
    path(
        "leads/<int:pk>/upgrade-interest/",
        handoff_views.LeadUpgradeInterestView.as_view(),
        name="api-lead-upgrade-interest",
    ),
    path("notifications/", handoff_views.NotificationsView.as_view(), name="api-notifications"),
    path("notifications/read/", handoff_views.NotificationsReadView.as_view(), name="api-notifications-read"),
    # Data in and out (leads/api/data_views.py).
    path("leads/<int:pk>/privacy/export/", data_views.PersonExportView.as_view(), name="api-privacy-export"),
    path("leads/<int:pk>/privacy/erase/", data_views.PersonEraseView.as_view(), name="api-privacy-erase"),
    path("leads/duplicates/", data_views.DuplicateListView.as_view(), name="api-lead-duplicates"),
    path("leads/<int:pk>/merge/", data_views.LeadMergeView.as_view(), name="api-lead-merge"),
    path("imports/", data_views.ImportListView.as_view(), name="api-imports"),
    path("imports/<int:pk>/", data_views.ImportDetailView.as_view(), name="api-import"),
    path("imports/<int:pk>/start/", data_views.ImportStartView.as_view(), name="api-import-start"),
    path("imports/<int:pk>/errors/", data_views.ImportErrorsView.as_view(), name="api-import-errors"),
    # Anything else under /api/v1/ (except the apps mounted after us, e.g. scoring/) is a JSON 404.
    # [\s\S], not ".": a path with an encoded newline in it is still one of these.
    re_path(r"^(?!scoring/)[\s\S]*$", not_found_view),
]

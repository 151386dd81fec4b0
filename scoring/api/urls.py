from django.urls import path, re_path

from leads.api.errors import not_found_view

from . import views

app_name = "scoring-api"

urlpatterns = [
    path("rulesets/", views.RuleSetListView.as_view(), name="ruleset-list"),
    path("rulesets/draft/", views.RuleSetDraftView.as_view(), name="ruleset-draft"),
    path("rulesets/<int:ruleset_id>/", views.RuleSetDetailView.as_view(), name="ruleset-detail"),
    path(
        "rulesets/<int:ruleset_id>/engagement-rules/",
        views.EngagementRuleListView.as_view(),
        name="engagement-rule-list",
    ),
    path(
        "rulesets/<int:ruleset_id>/engagement-rules/<int:rule_id>/",
        views.EngagementRuleDetailView.as_view(),
        name="engagement-rule-detail",
    ),
    path("rulesets/<int:ruleset_id>/fit-rules/", views.FitRuleListView.as_view(), name="fit-rule-list"),
    path(
        "rulesets/<int:ruleset_id>/fit-rules/<int:rule_id>/",
        views.FitRuleDetailView.as_view(),
        name="fit-rule-detail",
    ),
    path("rulesets/<int:ruleset_id>/preview/", views.RuleSetPreviewView.as_view(), name="ruleset-preview"),
    path("rulesets/<int:ruleset_id>/publish/", views.RuleSetPublishView.as_view(), name="ruleset-publish"),
    path("rescore-jobs/", views.RescoreJobListView.as_view(), name="rescore-job-list"),
    path("rescore-jobs/<int:job_id>/", views.RescoreJobDetailView.as_view(), name="rescore-job-detail"),
    path("leads/<int:lead_id>/score/", views.LeadScoreView.as_view(), name="lead-score"),
    # Anything else under /api/v1/scoring/ (an id that is not a number included) is a JSON 404.
    re_path(r"^[\s\S]*$", not_found_view),
]

"""Browser pages of the scoring app: the rules editor (the REST API lives in scoring/api/)."""

from django.urls import path, re_path

from . import views

urlpatterns = [
    path("scoring/", views.rules_page, name="scoring-rules"),
    path("scoring/preview/", views.preview_panel, name="scoring-preview"),
    path("scoring/draft/", views.draft_create, name="scoring-draft-create"),
    path("scoring/draft/discard/", views.draft_discard, name="scoring-draft-discard"),
    path("scoring/draft/thresholds/", views.thresholds_update, name="scoring-thresholds"),
    re_path(r"^scoring/draft/(?P<group>engagement|fit)/$", views.rule_save, name="scoring-rule-add"),
    re_path(
        r"^scoring/draft/(?P<group>engagement|fit)/(?P<rule_id>[0-9]+)/$", views.rule_save, name="scoring-rule-edit"
    ),
    re_path(
        r"^scoring/draft/(?P<group>engagement|fit)/(?P<rule_id>[0-9]+)/delete/$",
        views.rule_delete,
        name="scoring-rule-delete",
    ),
    path("scoring/publish/", views.publish, name="scoring-publish"),
    path("scoring/rescore/<int:job_id>/", views.rescore_progress, name="scoring-rescore"),
]

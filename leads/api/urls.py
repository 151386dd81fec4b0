from django.urls import path, re_path

from . import views
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
    # Anything else under /api/v1/ (except the apps mounted after us, e.g. scoring/) is a JSON 404.
    re_path(r"^(?!scoring/).*$", not_found_view),
]

"""URLs of the marketing workspace and the lead detail (included by leads/urls.py)."""

from django.urls import path

from . import lead_views, marketing_views, public_form_views

urlpatterns = [
    path("marketing/mqls/", marketing_views.mql_list, name="mql-list"),
    path("marketing/mqls/bulk/", marketing_views.mql_bulk, name="mql-bulk"),
    path("marketing/mqls/bulk/<int:job_id>/", marketing_views.mql_bulk_job, name="mql-bulk-job"),
    path("marketing/mqls/export.csv", marketing_views.mql_export, name="mql-export"),
    path("marketing/reports/", marketing_views.reports, name="marketing-reports"),
    path("marketing/forms/", marketing_views.forms_list, name="marketing-forms"),
    path("marketing/forms/key/", marketing_views.form_key_action, name="marketing-form-key"),
    # Public: plain HTML forms on any website post here with their form's public key.
    path("forms/submit/", public_form_views.public_form_post, name="public-form-post"),
    path("forms/thanks/", public_form_views.public_form_thanks, name="public-form-thanks"),
    path("marketing/views/", marketing_views.saved_view_save, name="mql-view-save"),
    path("marketing/views/<int:view_id>/delete/", marketing_views.saved_view_remove, name="mql-view-delete"),
    path("leads/<int:lead_id>/", lead_views.lead_detail, name="lead-detail"),
    path("leads/<int:lead_id>/profile/", lead_views.lead_profile_update, name="lead-profile"),
    path("leads/<int:lead_id>/notes/", lead_views.lead_note_add, name="lead-note-add"),
    path("leads/<int:lead_id>/move/", lead_views.lead_move, name="lead-move"),
]

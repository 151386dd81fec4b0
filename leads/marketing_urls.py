"""URLs of the marketing workspace and the lead detail (included by leads/urls.py)."""

from django.urls import path

from . import marketing_views

urlpatterns = [
    path("marketing/mqls/", marketing_views.mql_list, name="mql-list"),
    path("marketing/mqls/bulk/", marketing_views.mql_bulk, name="mql-bulk"),
    path("marketing/mqls/export.csv", marketing_views.mql_export, name="mql-export"),
    path("marketing/views/", marketing_views.saved_view_save, name="mql-view-save"),
    path("marketing/views/<int:view_id>/delete/", marketing_views.saved_view_remove, name="mql-view-delete"),
]

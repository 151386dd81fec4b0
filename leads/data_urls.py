from django.urls import path

from . import data_views, privacy_views

urlpatterns = [
    path("imports/", data_views.import_list, name="import-list"),
    path("imports/new/", data_views.import_new, name="import-new"),
    path("imports/<int:pk>/map/", data_views.import_map, name="import-map"),
    path("imports/<int:pk>/review/", data_views.import_review, name="import-review"),
    path("imports/<int:pk>/", data_views.import_job, name="import-job"),
    path("imports/<int:pk>/errors.csv", data_views.import_errors, name="import-errors"),
    path("marketing/duplicates/", data_views.duplicate_list, name="duplicate-list"),
    path("marketing/duplicates/<int:a>/<int:b>/", data_views.merge_leads, name="merge-leads"),
    path("privacy/", privacy_views.privacy_home, name="privacy"),
    path("privacy/leads/<int:pk>/", privacy_views.privacy_person, name="privacy-person"),
    path("privacy/leads/<int:pk>/export.json", privacy_views.privacy_export, name="privacy-export"),
    path("privacy/leads/<int:pk>/erase/", privacy_views.privacy_erase, name="privacy-erase"),
    path("privacy/erasures/<int:pk>/", privacy_views.privacy_erasure, name="privacy-erasure"),
]

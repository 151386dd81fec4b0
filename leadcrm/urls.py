from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from leads import audit_views

# Swagger UI comes from its CDN; the split view serves its start-up script from our origin (the
# plain view inlines it), so only this page widens the Content-Security-Policy, and only to the CDN.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
# The page itself is public and needs no credentials: an API key sent with it is not looked at
# (the page's template, rendered for a key's principal, is for people).
api_docs = csp_update({"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN], "img-src": [SWAGGER_CDN]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema", authentication_classes=[])
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("audit/", audit_views.audit_log, name="audit-log"),
    path("api/v1/", include("leads.api.urls")),
    path("api/v1/scoring/", include("scoring.api.urls")),
    path("", include("scoring.urls")),
    path("", include("leads.urls")),
]

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI comes from its CDN; the split view serves its start-up script from our origin (the
# plain view inlines it), so only this page widens the Content-Security-Policy, and only to the CDN.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
api_docs = csp_update({"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN], "img-src": [SWAGGER_CDN]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("leads.api.urls")),
    path("api/v1/scoring/", include("scoring.api.urls")),
    path("", include("scoring.urls")),
    path("", include("leads.urls")),
]

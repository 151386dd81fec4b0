"""The app's URLs plus the baseline of the submission benchmark (bench/settings.py)."""

from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from leadcrm.urls import urlpatterns as app_urlpatterns
from leads.models import Submission


@csrf_exempt
def insert_one_row(request):
    """Issue 9's baseline: a bare Django view that inserts one row, behind the same settings and
    middleware as the API, served by the same gunicorn."""
    row = Submission.objects.create(form_name="baseline", payload={}, submitted_at=timezone.now())
    return JsonResponse({"id": row.pk}, status=201)


urlpatterns = [path("baseline/", insert_one_row), *app_urlpatterns]

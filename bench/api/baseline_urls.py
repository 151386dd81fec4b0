"""The baseline the submission figures are compared with: a bare Django view that inserts one
row, behind the same settings and middleware, served by the same gunicorn."""

from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from leads.models import Submission


@csrf_exempt
def insert_one_row(request):
    row = Submission.objects.create(form_name="baseline", payload={}, submitted_at=timezone.now())
    return JsonResponse({"id": row.pk}, status=201)


urlpatterns = [path("baseline/", insert_one_row)]

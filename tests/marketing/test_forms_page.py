from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from leads.models import Submission
from tests.factories import SubmissionFactory

URL = reverse("marketing-forms")


def test_forms_seen_with_count_new_leads_and_last_submission(marketer_client, django_assert_max_num_queries):
    SubmissionFactory.create_batch(2, form_name="demo-request", created_lead=True)
    old = SubmissionFactory(form_name="newsletter")
    Submission.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
    with django_assert_max_num_queries(7):  # session, user, roles..., the forms, the web form keys
        response = marketer_client.get(URL)
    rows = response.context["forms"]
    assert [(row["form_name"], row["submissions"], row["new_leads"]) for row in rows] == [
        ("demo-request", 2, 2),
        ("newsletter", 1, 0),
    ]
    assert 'data-form="demo-request"' in response.content.decode()


def test_no_forms_yet(marketer_client):
    assert 'data-testid="forms-empty"' in marketer_client.get(URL).content.decode()


def test_forms_are_for_marketing(client_as, sales_rep):
    assert client_as(sales_rep).get(URL).status_code == 403

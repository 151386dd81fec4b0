"""The lead's identity: one lead per email, whatever case or spaces a form sends."""

import pytest
from django.db import IntegrityError, transaction

from leads.models import Lead, StageChange
from leads.services import lead_transition
from tests.factories import LeadFactory, UserFactory, lead_in_stage

pytestmark = pytest.mark.django_db


def test_it_stores_the_email_trimmed_and_lower_case():
    lead = Lead.objects.create(email="  Foo@Example.COM ")

    lead.refresh_from_db()
    assert lead.email == "foo@example.com"
    assert Lead.objects.filter(email="foo@example.com").count() == 1


def test_it_derives_the_company_domain_from_the_email():
    lead = Lead.objects.create(email="Ada@Analytical-Engines.example")

    assert lead.company_domain == "analytical-engines.example"


def test_it_keeps_a_company_domain_it_was_given():
    lead = Lead.objects.create(email="ada@gmail.example", company_domain="engines.example")

    assert lead.company_domain == "engines.example"


@pytest.mark.parametrize("second", ["foo@example.com", "FOO@EXAMPLE.COM", " foo@example.com", "Foo@Example.Com\t"])
def test_it_rejects_a_second_lead_differing_only_by_case_or_spaces(second):
    Lead.objects.create(email="  Foo@Example.COM ")

    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(email=second)

    assert Lead.objects.count() == 1


def test_it_renormalizes_an_email_changed_later():
    lead = LeadFactory(email="old@example.com")

    lead.email = " New@Example.com"
    lead.save()

    lead.refresh_from_db()
    assert lead.email == "new@example.com"


def test_the_database_refuses_an_upper_case_email_written_around_save():
    # bulk writes skip save(); the check constraint still keeps the identity normalized.
    lead = LeadFactory(email="ada@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(email="Ada@Example.com")


def test_a_new_lead_starts_in_the_lead_stage_unowned_and_unscored():
    lead = LeadFactory()

    assert lead.stage == "lead"
    assert lead.stage_label == "Lead"
    assert lead.owner is None
    assert lead.score == 0
    assert lead.score_stale is False


def test_a_lead_reads_as_its_name_or_else_its_email():
    assert str(LeadFactory(first_name="Ada", last_name="Lovelace")) == "Ada Lovelace"
    assert str(LeadFactory(first_name="", last_name="", email="anon@example.com")) == "anon@example.com"


def test_an_audit_row_names_its_person_and_survives_their_deletion():
    rep = UserFactory(first_name="Grace", last_name="Hopper")
    lead = LeadFactory()

    lead_transition(lead_id=lead.pk, to_stage="mql", actor=rep)
    change = StageChange.objects.get(lead=lead)
    assert change.actor_display == "Grace Hopper"

    rep.delete()

    change.refresh_from_db()
    assert change.actor is None
    assert (change.from_stage, change.to_stage) == ("lead", "mql")


def test_the_history_goes_with_its_lead():
    lead = lead_in_stage("customer")
    assert StageChange.objects.filter(lead=lead).count() == 2

    lead.delete()

    assert not StageChange.objects.exists()

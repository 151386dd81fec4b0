"""factory_boy factories shared by every test. Add a factory here when a model needs one."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from leads.models import EngagementEvent, Lead, Note, Submission
from leads.services import lead_transition


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """UserFactory(roles=["sales"]) puts the user in those role groups."""
        if create and extracted:
            for name in extracted:
                self.groups.add(Group.objects.get(name=name))


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@acme{n % 50}.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    job_title = factory.Faker("job")
    country = "US"
    industry = "Software"
    company_size = 120
    source = "website"


class EngagementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    lead = factory.SubFactory(LeadFactory)
    event_type = "page_view"
    occurred_at = factory.LazyFunction(timezone.now)
    properties = factory.LazyFunction(dict)


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    lead = factory.SubFactory(LeadFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Faker("sentence")


class SubmissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submission

    lead = factory.SubFactory(LeadFactory)
    form_name = "contact-us"
    payload = factory.LazyAttribute(lambda o: {"email": o.lead.email if o.lead else "someone@example.com"})
    page_url = "https://www.example.com/contact"
    submitted_at = factory.LazyFunction(timezone.now)


# The path from a new lead to each stage, through the one door: a lead built with
# lead_in_stage() carries the audit rows and handoffs a real lead in that stage has.
PATH_TO_STAGE = {
    "lead": [],
    "mql": ["mql"],
    "sql": ["sql"],
    "pql": ["pql"],
    "customer": ["sql", "customer"],
    "service_qualified": ["sql", "customer", "service_qualified"],
    "disqualified": ["disqualified"],
}


def lead_in_stage(stage: str, **kwargs) -> Lead:
    """A lead moved to `stage` by lead_transition (as "test setup"), not by writing the column."""
    lead = LeadFactory(**kwargs)
    for target in PATH_TO_STAGE[stage]:
        lead_transition(lead_id=lead.pk, to_stage=target, actor_label="test setup", reason="test setup")
    lead.refresh_from_db()
    return lead

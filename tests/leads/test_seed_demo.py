"""manage.py seed_demo: demo users per role, every stage populated, safe to run twice."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from leads.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from leads.models import EngagementEvent, Handoff, HandoffStatus, Lead, Note, StageChange, Submission
from leads.roles import Role, has_role
from leads.stages import SALES_STAGES, Stage

SMALL = 80


def seed(leads: int = SMALL) -> None:
    call_command("seed_demo", leads=leads, stdout=open("/dev/null", "w"))  # noqa: SIM115


def table_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Lead, StageChange, Handoff, EngagementEvent, Note, Submission, get_user_model())
    }


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The command hashes five demo passwords per run; the default hasher is slow by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(db):
    seed()


def test_it_creates_the_requested_number_of_leads_in_every_stage(seeded):
    assert Lead.objects.count() == SMALL
    assert set(Lead.objects.values_list("stage", flat=True)) == {stage.value for stage in Stage}


def test_it_populates_every_stage_even_with_a_handful_of_leads(db):
    seed(leads=len(Stage))
    assert {stage.value for stage in Stage} == set(Lead.objects.values_list("stage", flat=True))


def test_it_creates_a_demo_user_per_role(seeded):
    for username, first_name, last_name, role in DEMO_USERS:
        user = get_user_model().objects.get(username=username)
        assert (user.first_name, user.last_name) == (first_name, last_name)
        assert user.check_password(DEMO_PASSWORD)
        assert user.groups.filter(name=role.value).exists()
        assert has_role(user, role)
        assert (user.is_staff and user.is_superuser) == (role == Role.ADMIN)


def test_every_moved_lead_has_its_audit_trail(seeded):
    moved = Lead.objects.exclude(stage=Stage.LEAD)
    assert moved.exists()
    for lead in moved:
        last = lead.stage_changes.order_by("-created_at", "-id").first()
        assert last is not None and last.to_stage == lead.stage


def test_history_is_spread_over_the_last_months_not_stamped_now(seeded):
    created = sorted(Lead.objects.values_list("created_at", flat=True))
    assert (created[-1] - created[0]).days > 30
    changes = sorted(StageChange.objects.values_list("created_at", flat=True))
    assert (changes[-1] - changes[0]).days > 20
    for lead in Lead.objects.exclude(stage=Stage.LEAD).prefetch_related("stage_changes"):
        for change in lead.stage_changes.all():
            assert change.created_at >= lead.created_at


def test_sales_reps_own_claimed_leads_and_some_wait_in_the_queue(seeded):
    owners = set(Lead.objects.filter(owner__isnull=False).values_list("owner__username", flat=True))
    assert owners <= {"sales", "sales2"}
    assert owners
    assert Handoff.objects.filter(status=HandoffStatus.ACCEPTED, decided_by__username__in=owners).exists()
    assert Handoff.objects.filter(status=HandoffStatus.OPEN, lead__stage__in=SALES_STAGES).exists()
    assert not Handoff.objects.filter(status=HandoffStatus.OPEN).exclude(lead__stage__in=SALES_STAGES).exists()
    # Deadlines follow the SLA policy from the (backdated) opening time.
    for handoff in Handoff.objects.all():
        assert handoff.due_at is not None and handoff.due_at > handoff.opened_at


def test_leads_carry_an_engagement_history_and_are_marked_for_scoring(seeded):
    assert EngagementEvent.objects.count() > SMALL
    assert not Lead.objects.filter(events__isnull=True).exists()
    assert EngagementEvent.objects.filter(event_type="demo_request").exists()
    assert EngagementEvent.objects.filter(lead__stage=Stage.PQL, event_type="trial_started").exists()
    assert Lead.objects.filter(score_stale=True).count() == SMALL
    assert Note.objects.exists()


def test_it_is_idempotent(seeded):
    before = table_counts()
    seed()
    assert table_counts() == before


def test_a_bigger_run_only_adds_the_missing_leads(seeded):
    emails = set(Lead.objects.values_list("email", flat=True))
    seed(leads=SMALL + 30)
    assert Lead.objects.count() == SMALL + 30
    assert emails <= set(Lead.objects.values_list("email", flat=True))
    assert get_user_model().objects.count() == len(DEMO_USERS)

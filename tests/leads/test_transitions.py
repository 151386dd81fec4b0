"""lead_transition: the one door of every stage move, tried with every allowed and refused pair."""

import datetime
import itertools

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from leads.exceptions import ReasonRequired, TransitionNotAllowed
from leads.models import Handoff, HandoffKind, HandoffStatus, Lead, StageChange, Team
from leads.services import lead_claim, lead_transition
from leads.signals import lead_stage_changed
from leads.stages import MOVES, SALES_STAGES, Stage, stage_label
from tests.factories import lead_in_stage

pytestmark = pytest.mark.django_db

ALLOWED = sorted((source.value, target.value) for source, target in MOVES)
REFUSED = sorted(
    (source.value, target.value) for source, target in itertools.product(Stage, Stage) if (source, target) not in MOVES
)
NEEDS_REASON = sorted((m.source.value, m.target.value) for m in MOVES.values() if m.requires_reason)
INTO_SALES = [(s, t) for s, t in ALLOWED if t in SALES_STAGES and s not in SALES_STAGES]
OUT_OF_SALES = [(s, t) for s, t in ALLOWED if s in SALES_STAGES and t not in SALES_STAGES]


def trace(lead: Lead) -> tuple:
    """Everything a move may write about a lead: a refused move must leave all of it as it was."""
    lead.refresh_from_db()
    return (
        lead.stage,
        lead.stage_changed_at,
        lead.owner_id,
        lead.claimed_at,
        list(StageChange.objects.filter(lead=lead).values_list("id", "from_stage", "to_stage")),
        list(Handoff.objects.filter(lead=lead).order_by("id").values_list("id", "status", "decided_at")),
    )


def test_the_parametrization_covers_all_49_pairs():
    assert len(ALLOWED) == 17
    assert len(REFUSED) == 32
    assert len(ALLOWED) + len(REFUSED) == len(Stage) ** 2


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_every_allowed_move_succeeds_and_writes_one_audit_row(source, target, marketer):
    lead = lead_in_stage(source)
    changes_before = StageChange.objects.filter(lead=lead).count()
    reason = "Budget frozen until Q3" if (source, target) in NEEDS_REASON else ""
    started = timezone.now()

    result = lead_transition(lead_id=lead.pk, to_stage=target, actor=marketer, reason=reason)

    lead.refresh_from_db()
    assert lead.stage == target
    assert lead.stage_changed_at >= started
    assert StageChange.objects.filter(lead=lead).count() == changes_before + 1
    change = StageChange.objects.filter(lead=lead).latest("id")
    assert change == result.change
    assert (change.from_stage, change.to_stage) == (source, target)
    assert change.actor == marketer
    assert change.actor_label == ""
    assert change.reason == reason
    assert started <= change.created_at <= timezone.now()


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_a_move_without_a_person_is_attributed_to_its_label(source, target):
    lead = lead_in_stage(source)

    lead_transition(lead_id=lead.pk, to_stage=target, actor_label="scoring", reason="Score crossed threshold")

    change = StageChange.objects.filter(lead=lead).latest("id")
    assert change.actor is None
    assert change.actor_label == "scoring"
    assert change.actor_display == "scoring"


def test_a_move_with_neither_actor_nor_label_is_attributed_to_the_system():
    lead = lead_in_stage("lead")

    lead_transition(lead_id=lead.pk, to_stage="mql")

    assert StageChange.objects.get(lead=lead).actor_display == "system"


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_every_refused_move_names_both_stages_and_leaves_no_trace(source, target, marketer):
    lead = lead_in_stage(source)
    before = trace(lead)

    with pytest.raises(TransitionNotAllowed) as refusal:
        lead_transition(lead_id=lead.pk, to_stage=target, actor=marketer, reason="Trying anyway")

    message = str(refusal.value)
    assert stage_label(source) in message
    assert stage_label(target) in message
    assert message == refusal.value.message
    assert trace(lead) == before


def test_a_refusal_names_the_stages_by_their_labels():
    lead = lead_in_stage("customer")

    with pytest.raises(TransitionNotAllowed, match="from Customer to MQL"):
        lead_transition(lead_id=lead.pk, to_stage="mql", reason="x")


def test_an_unknown_target_stage_is_refused_without_trace():
    lead = lead_in_stage("sql")
    before = trace(lead)

    with pytest.raises(TransitionNotAllowed, match="won"):
        lead_transition(lead_id=lead.pk, to_stage="won")

    assert trace(lead) == before


@pytest.mark.parametrize("reason", ["", "   \n\t"])
@pytest.mark.parametrize(("source", "target"), NEEDS_REASON)
def test_recycle_disqualify_and_reopen_without_a_reason_are_refused_without_trace(source, target, reason, sales_rep):
    lead = lead_in_stage(source)
    before = trace(lead)

    with pytest.raises(ReasonRequired) as refusal:
        lead_transition(lead_id=lead.pk, to_stage=target, actor=sales_rep, reason=reason)

    assert stage_label(source) in str(refusal.value)
    assert stage_label(target) in str(refusal.value)
    assert trace(lead) == before


def test_a_reason_is_stored_without_surrounding_white_space():
    lead = lead_in_stage("sql")

    lead_transition(lead_id=lead.pk, to_stage="disqualified", reason="  Student, no budget \n")

    assert StageChange.objects.filter(lead=lead).latest("id").reason == "Student, no budget"


@pytest.mark.parametrize(
    ("source", "target", "kind", "from_team"),
    [
        ("lead", "sql", HandoffKind.MARKETING_TO_SALES, Team.MARKETING),
        ("mql", "sql", HandoffKind.MARKETING_TO_SALES, Team.MARKETING),
        ("lead", "pql", HandoffKind.PRODUCT_TO_SALES, Team.PRODUCT),
        ("mql", "pql", HandoffKind.PRODUCT_TO_SALES, Team.PRODUCT),
        ("customer", "service_qualified", HandoffKind.SERVICE_TO_SALES, Team.SERVICE),
    ],
)
def test_entering_a_sales_stage_opens_one_handoff_of_its_kind(source, target, kind, from_team, marketer):
    assert (source, target) in INTO_SALES
    lead = lead_in_stage(source)

    result = lead_transition(lead_id=lead.pk, to_stage=target, actor=marketer)

    open_handoffs = list(Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN))
    assert open_handoffs == [result.handoff]
    handoff = open_handoffs[0]
    assert (handoff.kind, handoff.from_team, handoff.to_team) == (kind, from_team, Team.SALES)
    assert handoff.opened_by == marketer
    assert handoff.reason  # the queue says why it is there


def test_every_move_into_sales_is_covered_by_the_handoff_test():
    assert len(INTO_SALES) == 5


def test_a_handoff_opened_by_the_engine_carries_its_label():
    lead = lead_in_stage("mql")

    result = lead_transition(lead_id=lead.pk, to_stage="pql", actor_label="scoring")

    assert result.handoff.opened_by is None
    assert result.handoff.opened_by_label == "scoring"


@pytest.mark.parametrize(("source", "target"), OUT_OF_SALES)
def test_leaving_a_sales_stage_unclaimed_settles_its_handoff(source, target, sales_rep):
    lead = lead_in_stage(source)
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    reason = "Went with a competitor" if (source, target) in NEEDS_REASON else ""

    lead_transition(lead_id=lead.pk, to_stage=target, actor=sales_rep, reason=reason)

    handoff.refresh_from_db()
    assert not Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).exists()
    assert handoff.decided_by == sales_rep
    assert handoff.decided_at is not None
    if target == Stage.CUSTOMER:
        assert handoff.status == HandoffStatus.ACCEPTED
        assert handoff.rejection_reason == ""
    else:
        assert handoff.status == HandoffStatus.REJECTED
        assert handoff.rejection_reason == "Went with a competitor"


def test_every_move_out_of_sales_is_covered_by_the_settle_test():
    assert sorted(OUT_OF_SALES) == sorted(
        [
            ("pql", "customer"),
            ("pql", "disqualified"),
            ("pql", "mql"),
            ("service_qualified", "customer"),
            ("sql", "customer"),
            ("sql", "disqualified"),
            ("sql", "mql"),
        ]
    )


@pytest.mark.parametrize(("target", "reason"), [("mql", "Not ready to buy"), ("disqualified", "Student")])
def test_moving_a_claimed_lead_back_to_marketing_or_out_clears_its_owner(target, reason, sales_rep):
    lead = lead_in_stage("sql")
    lead_claim(lead_id=lead.pk, user=sales_rep)

    lead_transition(lead_id=lead.pk, to_stage=target, actor=sales_rep, reason=reason)

    lead.refresh_from_db()
    assert lead.owner is None
    assert lead.claimed_at is None
    # The claim was accepted when it happened; moving on later does not rewrite that outcome.
    assert list(Handoff.objects.filter(lead=lead).values_list("status", flat=True)) == [HandoffStatus.ACCEPTED]


def test_closing_a_claimed_lead_as_customer_keeps_the_rep_who_won_it(sales_rep):
    lead = lead_in_stage("sql")
    lead_claim(lead_id=lead.pk, user=sales_rep)

    lead_transition(lead_id=lead.pk, to_stage="customer", actor=sales_rep)

    lead.refresh_from_db()
    assert lead.owner == sales_rep
    assert not Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).exists()


def test_a_claimed_pql_moving_to_sql_stays_with_its_rep_and_opens_nothing(sales_rep):
    lead = lead_in_stage("pql")
    lead_claim(lead_id=lead.pk, user=sales_rep)

    result = lead_transition(lead_id=lead.pk, to_stage="sql", actor=sales_rep)

    lead.refresh_from_db()
    assert result.handoff is None
    assert lead.owner == sales_rep
    assert not Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).exists()


def test_an_unclaimed_pql_moving_to_sql_waits_in_the_queue_once(marketer):
    lead = lead_in_stage("pql")
    pql_handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)

    result = lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)

    pql_handoff.refresh_from_db()
    assert pql_handoff.status == HandoffStatus.CANCELLED
    assert list(Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN)) == [result.handoff]
    assert result.handoff.kind == HandoffKind.MARKETING_TO_SALES


def test_an_upgrade_flag_puts_a_customer_back_in_the_queue_without_its_old_owner(sales_rep, other_sales_rep):
    lead = lead_in_stage("sql")
    lead_claim(lead_id=lead.pk, user=sales_rep)
    lead_transition(lead_id=lead.pk, to_stage="customer", actor=sales_rep)

    lead_transition(lead_id=lead.pk, to_stage="service_qualified", actor_label="service")

    lead.refresh_from_db()
    assert lead.owner is None
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    assert handoff.kind == HandoffKind.SERVICE_TO_SALES
    lead_claim(lead_id=lead.pk, user=other_sales_rep)
    lead.refresh_from_db()
    assert lead.owner == other_sales_rep


def test_a_lead_never_has_two_open_handoffs():
    lead = lead_in_stage("sql")

    with pytest.raises(IntegrityError), transaction.atomic():
        Handoff.objects.create(lead=lead, kind=HandoffKind.MARKETING_TO_SALES, from_team=Team.MARKETING)


def test_a_move_decided_on_a_stale_stage_is_refused_without_trace(marketer):
    lead = lead_in_stage("mql")
    before = trace(lead)

    with pytest.raises(TransitionNotAllowed) as refusal:
        lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer, expected_stage="lead")

    assert str(refusal.value) == "The lead is now MQL, not Lead: it was not moved to SQL."
    assert trace(lead) == before


def test_a_move_on_the_expected_stage_goes_through(marketer):
    lead = lead_in_stage("mql")

    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer, expected_stage="mql")

    lead.refresh_from_db()
    assert lead.stage == "sql"


def test_the_stage_change_is_announced_after_commit_only(django_capture_on_commit_callbacks):
    lead = lead_in_stage("lead")
    received = []

    def receiver(sender, lead_id, change_id, **kwargs):
        received.append((lead_id, change_id))

    lead_stage_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            result = lead_transition(lead_id=lead.pk, to_stage="mql")
            assert received == []
        assert len(callbacks) == 1
        assert received == [(lead.pk, result.change.pk)]
    finally:
        lead_stage_changed.disconnect(receiver)


def test_a_failing_audit_write_rolls_the_move_back(monkeypatch):
    lead = lead_in_stage("mql")
    before = trace(lead)

    def broken_create(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(StageChange.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        lead_transition(lead_id=lead.pk, to_stage="sql")

    assert trace(lead) == before


def test_the_history_of_a_lead_reads_as_a_chain(marketer, sales_rep):
    lead = lead_in_stage("lead")
    for target, reason in [("mql", ""), ("sql", ""), ("mql", "Later"), ("disqualified", "Spam"), ("lead", "Real")]:
        lead_transition(lead_id=lead.pk, to_stage=target, actor=marketer, reason=reason)

    history = list(StageChange.objects.filter(lead=lead).order_by("id").values_list("from_stage", "to_stage"))
    assert history == [
        ("lead", "mql"),
        ("mql", "sql"),
        ("sql", "mql"),
        ("mql", "disqualified"),
        ("disqualified", "lead"),
    ]
    lead.refresh_from_db()
    assert lead.stage == "lead"
    assert lead.stage_changed_at >= timezone.now() - datetime.timedelta(minutes=1)

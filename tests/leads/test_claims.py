"""lead_claim and lead_release: one owner per lead, however many reps click at once."""

import itertools
import re
import threading

import pytest
from django.db import connections

from leads.exceptions import AlreadyClaimed, LeadError, TransitionNotAllowed
from leads.models import Handoff, HandoffKind, HandoffStatus, Lead, StageChange
from leads.services import lead_claim, lead_release, lead_transition
from tests.factories import UserFactory, lead_in_stage


def handoff_states(lead: Lead) -> list[tuple]:
    return list(Handoff.objects.filter(lead=lead).order_by("id").values_list("id", "status", "decided_by_id"))


@pytest.mark.django_db
class TestClaim:
    def test_it_gives_the_rep_the_lead_and_accepts_the_handoff(self, sales_rep):
        lead = lead_in_stage("sql")

        handoff = lead_claim(lead_id=lead.pk, user=sales_rep)

        lead.refresh_from_db()
        assert lead.owner == sales_rep
        assert lead.claimed_at is not None
        handoff.refresh_from_db()
        assert handoff.status == HandoffStatus.ACCEPTED
        assert handoff.decided_by == sales_rep
        assert handoff.decided_at == lead.claimed_at
        assert not Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).exists()

    def test_it_does_not_move_the_lead(self, sales_rep):
        lead = lead_in_stage("pql")
        changes = StageChange.objects.filter(lead=lead).count()

        lead_claim(lead_id=lead.pk, user=sales_rep)

        lead.refresh_from_db()
        assert lead.stage == "pql"
        assert StageChange.objects.filter(lead=lead).count() == changes

    def test_it_refuses_a_second_rep_naming_the_first_owner(self, sales_rep, other_sales_rep):
        sales_rep.first_name, sales_rep.last_name = "Ada", "Lovelace"
        sales_rep.save()
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        before = handoff_states(lead)

        with pytest.raises(AlreadyClaimed, match="Already claimed by Ada Lovelace at "):
            lead_claim(lead_id=lead.pk, user=other_sales_rep)

        lead.refresh_from_db()
        assert lead.owner == sales_rep
        assert handoff_states(lead) == before

    def test_it_tells_the_owner_they_already_have_it(self, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        with pytest.raises(AlreadyClaimed, match="You have already claimed"):
            lead_claim(lead_id=lead.pk, user=sales_rep)

    @pytest.mark.parametrize("stage", ["lead", "mql", "customer", "disqualified"])
    def test_it_refuses_a_lead_that_is_not_in_the_queue(self, stage, sales_rep):
        lead = lead_in_stage(stage)
        before = handoff_states(lead)

        with pytest.raises(TransitionNotAllowed, match="no open handoff"):
            lead_claim(lead_id=lead.pk, user=sales_rep)

        lead.refresh_from_db()
        assert lead.owner is None
        assert handoff_states(lead) == before

    def test_it_names_an_owner_even_without_a_claim_time(self, sales_rep, other_sales_rep):
        # Leads imported or seeded with an owner have no claimed_at: the refusal must still read well.
        lead = lead_in_stage("customer")
        Lead.objects.filter(pk=lead.pk).update(owner=sales_rep, claimed_at=None)

        with pytest.raises(AlreadyClaimed, match=rf"Already claimed by {re.escape(sales_rep.get_full_name())}\.$"):
            lead_claim(lead_id=lead.pk, user=other_sales_rep)


@pytest.mark.django_db
class TestRelease:
    def test_it_puts_the_lead_back_into_the_queue(self, sales_rep, other_sales_rep):
        lead = lead_in_stage("pql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        handoff = lead_release(lead_id=lead.pk, user=sales_rep, reason="On holiday for two weeks")

        lead.refresh_from_db()
        assert lead.owner is None
        assert lead.claimed_at is None
        assert lead.stage == "pql"
        assert handoff.status == HandoffStatus.OPEN
        assert handoff.kind == HandoffKind.PRODUCT_TO_SALES
        assert handoff.reason == "On holiday for two weeks"
        assert list(Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN)) == [handoff]
        # Back in the queue means another rep can take it.
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        lead.refresh_from_db()
        assert lead.owner == other_sales_rep

    def test_it_says_who_released_when_no_reason_is_given(self, sales_rep):
        sales_rep.first_name, sales_rep.last_name = "Ada", "Lovelace"
        sales_rep.save()
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        handoff = lead_release(lead_id=lead.pk, user=sales_rep)

        assert handoff.reason == "Released by Ada Lovelace"

    def test_it_refuses_a_lead_nobody_owns(self, sales_rep):
        lead = lead_in_stage("sql")
        before = handoff_states(lead)

        with pytest.raises(TransitionNotAllowed, match="no owner"):
            lead_release(lead_id=lead.pk, user=sales_rep)

        assert handoff_states(lead) == before

    def test_it_refuses_a_won_customer(self, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        lead_transition(lead_id=lead.pk, to_stage="customer", actor=sales_rep)

        with pytest.raises(TransitionNotAllowed, match="Customer"):
            lead_release(lead_id=lead.pk, user=sales_rep)

        lead.refresh_from_db()
        assert lead.owner == sales_rep


def run_at_once(count: int, work) -> list:
    """Run work(i) in `count` threads released together; each thread closes its connection."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[i] = work(i)
        except Exception as error:
            outcomes[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return outcomes


# transactional_db flushes every table after the test; the autouse fixture in tests/conftest.py
# puts the role groups back before the next transactional test (no serialized rollback: see there).
@pytest.mark.postgres
def test_fifty_concurrent_claims_make_exactly_one_owner(transactional_db):
    lead = lead_in_stage("sql")
    reps = [UserFactory(username=f"racer{i}", roles=["sales"]) for i in range(50)]

    outcomes = run_at_once(50, lambda i: lead_claim(lead_id=lead.pk, user=reps[i]))

    winners = [o for o in outcomes if isinstance(o, Handoff)]
    refusals = [o for o in outcomes if isinstance(o, AlreadyClaimed)]
    others = [o for o in outcomes if not isinstance(o, Handoff | AlreadyClaimed)]
    assert others == []
    assert len(winners) == 1
    assert len(refusals) == 49
    lead.refresh_from_db()
    assert lead.owner == winners[0].decided_by
    owner_name = lead.owner.get_full_name()
    assert all(owner_name in str(refusal) for refusal in refusals)
    assert list(Handoff.objects.filter(lead=lead).values_list("status", "decided_by")) == [
        (HandoffStatus.ACCEPTED, lead.owner.pk)
    ]


# Each thread asks for one move; whichever stage the lead is in when its turn comes decides
# whether that move is allowed. Without the row lock two threads would both read "lead" and
# both write a lead -> mql row, and the history would no longer be a chain.
CONFLICTING_MOVES = [
    ("mql", ""),
    ("sql", ""),
    ("disqualified", "Duplicate"),
    ("lead", "Reopened"),
    ("pql", ""),
]


@pytest.mark.postgres
def test_twenty_concurrent_conflicting_moves_leave_a_consistent_history(transactional_db):
    lead = lead_in_stage("lead")

    def move(i: int):
        target, reason = CONFLICTING_MOVES[i % len(CONFLICTING_MOVES)]
        return lead_transition(lead_id=lead.pk, to_stage=target, actor_label=f"thread {i}", reason=reason)

    outcomes = run_at_once(20, move)

    unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, LeadError)]
    assert unexpected == []
    succeeded = [o for o in outcomes if not isinstance(o, Exception)]
    assert succeeded, "at least the first move from lead is allowed"
    history = list(StageChange.objects.filter(lead=lead).order_by("id").values_list("from_stage", "to_stage"))
    assert len(history) == len(succeeded)
    assert history[0][0] == "lead"
    for (_, reached), (left, _) in itertools.pairwise(history):
        assert reached == left, f"broken chain: {history}"
    lead.refresh_from_db()
    assert lead.stage == history[-1][1]
    assert Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).count() <= 1


@pytest.mark.postgres
def test_claims_racing_a_recycle_never_deadlock_or_half_write(transactional_db):
    lead = lead_in_stage("sql")
    reps = [UserFactory(username=f"racer{i}", roles=["sales"]) for i in range(10)]

    def work(i: int):
        if i % 2:
            return lead_claim(lead_id=lead.pk, user=reps[i])
        return lead_transition(lead_id=lead.pk, to_stage="mql", actor=reps[i], reason="Not ready")

    outcomes = run_at_once(10, work)

    unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, LeadError)]
    assert unexpected == []
    lead.refresh_from_db()
    assert lead.stage == "mql"
    assert lead.owner is None
    handoff = Handoff.objects.get(lead=lead)
    claims = [o for o in outcomes if isinstance(o, Handoff)]
    if claims:  # a rep got it before the recycle: the claim stands as accepted
        assert handoff.status == HandoffStatus.ACCEPTED
        assert len(claims) == 1
    else:  # the recycle came first: the handoff was rejected with its reason
        assert handoff.status == HandoffStatus.REJECTED
        assert handoff.rejection_reason == "Not ready"

"""The lifecycle table itself: the moves the product owner agreed on, written out independently."""

import pytest

from leads.stages import MOVES, STAGE_CHOICES, Stage, get_move, moves_from, stage_label

# The agreed lifecycle, spelled out here by hand (not derived from MOVES) so a change of the table
# is a deliberate change of this test too.
AGREED_MOVES = {
    ("lead", "mql"),
    ("lead", "sql"),
    ("lead", "pql"),
    ("lead", "disqualified"),
    ("mql", "sql"),
    ("mql", "pql"),
    ("mql", "disqualified"),
    ("sql", "customer"),
    ("sql", "mql"),
    ("sql", "disqualified"),
    ("pql", "sql"),
    ("pql", "customer"),
    ("pql", "mql"),
    ("pql", "disqualified"),
    ("service_qualified", "customer"),
    ("customer", "service_qualified"),
    ("disqualified", "lead"),
}
# Recycling (back to marketing), disqualifying and reopening must say why.
AGREED_NEEDS_REASON = {
    ("sql", "mql"),
    ("pql", "mql"),
    ("lead", "disqualified"),
    ("mql", "disqualified"),
    ("sql", "disqualified"),
    ("pql", "disqualified"),
    ("disqualified", "lead"),
}


def test_the_table_holds_exactly_the_agreed_moves():
    assert {(source.value, target.value) for source, target in MOVES} == AGREED_MOVES


def test_exactly_recycle_disqualify_and_reopen_need_a_reason():
    needing = {(m.source.value, m.target.value) for m in MOVES.values() if m.requires_reason}
    assert needing == AGREED_NEEDS_REASON


def test_the_seven_stages_in_funnel_order_with_labels():
    assert [value for value, _ in STAGE_CHOICES] == [
        "lead",
        "mql",
        "sql",
        "pql",
        "service_qualified",
        "customer",
        "disqualified",
    ]
    assert dict(STAGE_CHOICES)["service_qualified"] == "Service-qualified"
    assert all(label for _, label in STAGE_CHOICES)


def test_no_stage_may_move_to_itself():
    assert all(get_move(stage, stage) is None for stage in Stage)


@pytest.mark.parametrize("source", [stage.value for stage in Stage])
def test_moves_from_lists_the_allowed_targets_of_a_stage(source):
    targets = {move.target.value for move in moves_from(source)}
    assert targets == {target for src, target in AGREED_MOVES if src == source}


def test_every_move_has_a_label_for_buttons():
    assert all(move.label for move in MOVES.values())


def test_only_forward_moves_are_forward():
    # The scoring engine may only make forward moves: never a recycle, disqualify or reopen.
    backward = {(m.source.value, m.target.value) for m in MOVES.values() if not m.is_forward}
    assert backward == AGREED_NEEDS_REASON


def test_unknown_stages_are_not_moves_and_keep_their_name():
    assert get_move("lead", "won") is None
    assert get_move("won", "lead") is None
    assert moves_from("won") == []
    assert stage_label("won") == "won"
    assert stage_label("sql") == "SQL"

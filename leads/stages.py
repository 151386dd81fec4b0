"""The lead lifecycle: stages and the one table of allowed moves.

Pure module (no Django models): the transition service in leads/services.py is the only code
that applies a move, and it asks this table whether the move is allowed.
"""

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    PQL = "pql"
    SERVICE_QUALIFIED = "service_qualified"
    CUSTOMER = "customer"
    DISQUALIFIED = "disqualified"

    @property
    def label(self) -> str:
        return STAGE_LABELS[self]


STAGE_LABELS = {
    Stage.LEAD: "Lead",
    Stage.MQL: "MQL",
    Stage.SQL: "SQL",
    Stage.PQL: "PQL",
    Stage.SERVICE_QUALIFIED: "Service-qualified",
    Stage.CUSTOMER: "Customer",
    Stage.DISQUALIFIED: "Disqualified",
}
STAGE_CHOICES = [(stage.value, stage.label) for stage in Stage]

# Stages in which a lead waits for (or is worked by) sales: entering one opens a handoff.
SALES_STAGES = frozenset({Stage.SQL, Stage.PQL, Stage.SERVICE_QUALIFIED})
# Stages owned by marketing: a lead moved back here loses its sales owner.
MARKETING_STAGES = frozenset({Stage.LEAD, Stage.MQL})


class MoveKind(StrEnum):
    PROMOTE = "promote"  # forward along the funnel
    HANDOFF = "handoff"  # forward into a sales stage: opens a handoff
    WIN = "win"  # closed as customer
    RECYCLE = "recycle"  # back to marketing (or back to customer for an upgrade not pursued)
    DISQUALIFY = "disqualify"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Move:
    source: Stage
    target: Stage
    kind: MoveKind
    label: str

    @property
    def requires_reason(self) -> bool:
        return self.kind in {MoveKind.RECYCLE, MoveKind.DISQUALIFY, MoveKind.REOPEN}

    @property
    def is_forward(self) -> bool:
        return self.kind in {MoveKind.PROMOTE, MoveKind.HANDOFF, MoveKind.WIN}


_S = Stage
_K = MoveKind

# The one table of allowed moves. Anything not listed here is refused.
MOVES: dict[tuple[Stage, Stage], Move] = {
    (m.source, m.target): m
    for m in [
        Move(_S.LEAD, _S.MQL, _K.PROMOTE, "Mark as MQL"),
        Move(_S.LEAD, _S.SQL, _K.HANDOFF, "Hand off to sales"),
        Move(_S.LEAD, _S.PQL, _K.HANDOFF, "Mark as PQL"),
        Move(_S.LEAD, _S.DISQUALIFIED, _K.DISQUALIFY, "Disqualify"),
        Move(_S.MQL, _S.SQL, _K.HANDOFF, "Hand off to sales"),
        Move(_S.MQL, _S.PQL, _K.HANDOFF, "Mark as PQL"),
        Move(_S.MQL, _S.DISQUALIFIED, _K.DISQUALIFY, "Disqualify"),
        Move(_S.SQL, _S.CUSTOMER, _K.WIN, "Close as customer"),
        Move(_S.SQL, _S.MQL, _K.RECYCLE, "Recycle to marketing"),
        Move(_S.SQL, _S.DISQUALIFIED, _K.DISQUALIFY, "Disqualify"),
        Move(_S.PQL, _S.SQL, _K.HANDOFF, "Mark as SQL"),
        Move(_S.PQL, _S.CUSTOMER, _K.WIN, "Close as customer"),
        Move(_S.PQL, _S.MQL, _K.RECYCLE, "Recycle to marketing"),
        Move(_S.PQL, _S.DISQUALIFIED, _K.DISQUALIFY, "Disqualify"),
        Move(_S.SERVICE_QUALIFIED, _S.CUSTOMER, _K.WIN, "Close upgrade (back to customer)"),
        Move(_S.CUSTOMER, _S.SERVICE_QUALIFIED, _K.HANDOFF, "Flag upgrade interest"),
        Move(_S.DISQUALIFIED, _S.LEAD, _K.REOPEN, "Reopen"),
    ]
}


def get_move(source: str, target: str) -> Move | None:
    try:
        return MOVES.get((Stage(source), Stage(target)))
    except ValueError:
        return None


def moves_from(source: str) -> list[Move]:
    return [move for (src, _), move in MOVES.items() if src == source]


def stage_label(value: str) -> str:
    try:
        return Stage(value).label
    except ValueError:
        return value

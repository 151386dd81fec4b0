"""The scoring engine: lead + its events + a rule set -> fit, engagement, total and a breakdown.

Pure module: no database, no Django models, no clock (the caller passes `now`). The recompute
worker, the publish rescore and the what-if preview all call score_lead(), so a preview shows
exactly what publishing will do. Times are POSIX timestamps (floats) because the worker reads
them as such straight from SQL: building a datetime per event would cost more than scoring it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from leads.stages import Stage  # a pure module: the lifecycle table, no models

SECONDS_PER_DAY = 86400.0

# Addresses at these domains are people, not companies: a weak fit signal.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "zoho.com",
        "fastmail.com",
    }
)


class PropertyOperator(StrEnum):
    EQUALS = "equals"
    CONTAINS = "contains"


class FitKind(StrEnum):
    JOB_TITLE_CONTAINS = "job_title_contains"
    COMPANY_SIZE_AT_LEAST = "company_size_at_least"
    INDUSTRY_IN = "industry_in"
    COUNTRY_IN = "country_in"
    EMAIL_FREE_MAIL = "email_free_mail"
    EMAIL_COMPETITOR = "email_competitor"


@dataclass(frozen=True)
class EngagementRule:
    name: str
    event_type: str
    points: int
    property_key: str = ""
    property_operator: str = ""
    property_value: str = ""
    cap: int | None = None  # the most (in absolute value) this rule adds to one lead
    half_life_days: float | None = None
    id: int | None = None

    def matches(self, properties: dict | None) -> bool:
        if not self.property_key:
            return True
        if not properties:
            return False
        value = properties.get(self.property_key)
        if value is None:
            return False
        text = str(value).casefold()
        wanted = self.property_value.casefold()
        if self.property_operator == PropertyOperator.CONTAINS:
            return wanted in text
        return text == wanted


@dataclass(frozen=True)
class FitRule:
    name: str
    kind: str
    points: int
    values: tuple[str, ...] = ()  # substrings, industries, countries or extra domains
    threshold: int | None = None  # company size at least
    id: int | None = None

    def __post_init__(self):
        # Normalized once: a rule is matched against every lead of a rescore or a preview.
        kind = self.kind
        if kind == FitKind.JOB_TITLE_CONTAINS:
            wanted = tuple(value.casefold() for value in self.values if value)
        elif kind == FitKind.COUNTRY_IN:
            wanted = frozenset(value.strip().upper() for value in self.values if value.strip())
        elif kind == FitKind.INDUSTRY_IN:
            wanted = frozenset(value.strip().casefold() for value in self.values if value.strip())
        else:
            wanted = frozenset(value.strip().lower().lstrip("@") for value in self.values if value.strip())
        object.__setattr__(self, "_wanted", wanted)

    @property
    def fact(self) -> str:
        """The one LeadFacts attribute this rule reads."""
        return FIT_KIND_FACTS.get(self.kind, "email_domain")

    def matches(self, lead: LeadFacts) -> bool:
        return self.matches_value(getattr(lead, self.fact))

    def matches_value(self, value) -> bool:
        """Whether a lead whose fact (see `fact`) has this value matches."""
        kind = self.kind
        wanted = self._wanted
        if kind == FitKind.JOB_TITLE_CONTAINS:
            title = (value or "").casefold()
            if title:
                for needle in wanted:
                    if needle in title:
                        return True
            return False
        if kind == FitKind.COMPANY_SIZE_AT_LEAST:
            return value is not None and self.threshold is not None and value >= self.threshold
        if kind == FitKind.INDUSTRY_IN:
            return (value or "").strip().casefold() in wanted
        if kind == FitKind.COUNTRY_IN:
            return (value or "").strip().upper() in wanted
        domain = value
        if not domain:
            return False
        if kind == FitKind.EMAIL_FREE_MAIL:
            return domain in FREE_MAIL_DOMAINS or domain in wanted
        if kind == FitKind.EMAIL_COMPETITOR:
            if domain in wanted:
                return True
            return any(domain.endswith("." + listed) for listed in wanted)
        return False


FIT_KIND_FACTS = {
    FitKind.JOB_TITLE_CONTAINS: "job_title",
    FitKind.COMPANY_SIZE_AT_LEAST: "company_size",
    FitKind.INDUSTRY_IN: "industry",
    FitKind.COUNTRY_IN: "country",
    FitKind.EMAIL_FREE_MAIL: "email_domain",
    FitKind.EMAIL_COMPETITOR: "email_domain",
}


class FitScorer:
    """Fit rules matched once per distinct value instead of once per lead (the worker, the
    rescore and the what-if preview), with the same result as matching each rule.

    Every fit rule reads one fact of a lead, and those facts repeat across leads (a few hundred
    job titles, industries and countries; one domain per company), so each rule is matched once
    per distinct value of its fact: per value, the points of the rules reading that fact and
    their positions are remembered. A fact's memory is emptied when it passes MAX_KNOWN values
    (a long-running worker meets new domains forever).
    """

    MAX_KNOWN = 100_000

    def __init__(self, rules: Iterable[FitRule]):
        self._rules_by_fact: dict[str, list[tuple[int, FitRule]]] = {fact: [] for fact in FIT_KIND_FACTS.values()}
        for position, rule in enumerate(rules):
            self._rules_by_fact[rule.fact].append((position, rule))
        self._known: dict[str, dict] = {fact: {} for fact in self._rules_by_fact}

    def _matches(self, fact: str, value) -> tuple[int, tuple[int, ...]]:
        """(points, positions) of the rules reading `fact` that a lead with this value matches."""
        known = self._known[fact]
        found = known.get(value)
        if found is None:
            matched = [(position, rule) for position, rule in self._rules_by_fact[fact] if rule.matches_value(value)]
            found = (sum(rule.points for _, rule in matched), tuple(position for position, _ in matched))
            if len(known) >= self.MAX_KNOWN:
                known.clear()
            known[value] = found
        return found

    def points(self, job_title: str, company_size: int | None, industry: str, country: str, email: str) -> int:
        matches = self._matches
        return (
            matches("job_title", job_title)[0]
            + matches("company_size", company_size)[0]
            + matches("industry", industry)[0]
            + matches("country", country)[0]
            + matches("email_domain", email_domain_of(email))[0]
        )

    def positions(self, lead: LeadFacts) -> list[int]:
        """The positions, in rule order, of the fit rules this lead matches."""
        matches = self._matches
        found = [
            *matches("job_title", lead.job_title)[1],
            *matches("company_size", lead.company_size)[1],
            *matches("industry", lead.industry)[1],
            *matches("country", lead.country)[1],
            *matches("email_domain", lead.email_domain)[1],
        ]
        found.sort()
        return found


@dataclass(frozen=True)
class RuleSet:
    """A rule set as the engine sees it. Build it once per batch: it indexes rules by event type."""

    engagement_rules: Sequence[EngagementRule]
    fit_rules: Sequence[FitRule]
    mql_threshold: int
    pql_threshold: int
    pql_event_types: frozenset[str] = frozenset()
    high_intent_event_types: frozenset[str] = frozenset()
    version: int | None = None
    rules_by_event_type: dict[str, tuple[tuple[int, EngagementRule], ...]] = field(init=False, repr=False)
    fit_scorer: FitScorer = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "fit_scorer", FitScorer(self.fit_rules))
        index: dict[str, list[tuple[int, EngagementRule]]] = {}
        for position, rule in enumerate(self.engagement_rules):
            index.setdefault(rule.event_type, []).append((position, rule))
        object.__setattr__(self, "rules_by_event_type", {key: tuple(value) for key, value in index.items()})
        object.__setattr__(self, "pql_event_types", frozenset(self.pql_event_types))
        object.__setattr__(self, "high_intent_event_types", frozenset(self.high_intent_event_types))

    @property
    def label(self) -> str:
        return f"rule set v{self.version}" if self.version is not None else "draft rule set"

    def relevant_event_types(self) -> frozenset[str]:
        """Event types that can change a score or a stage: the worker loads only these."""
        return frozenset(self.rules_by_event_type) | self.high_intent_event_types | self.pql_event_types

    def property_keys(self) -> tuple[str, ...]:
        """The event properties some rule looks at."""
        return tuple(sorted({rule.property_key for rule in self.engagement_rules if rule.property_key}))

    def event_types_with_property_rules(self) -> frozenset[str]:
        """Event types whose properties a rule looks at: the worker loads properties only for these."""
        return frozenset(rule.event_type for rule in self.engagement_rules if rule.property_key)


@dataclass(frozen=True)
class LeadFacts:
    email: str = ""
    job_title: str = ""
    company_size: int | None = None
    industry: str = ""
    country: str = ""
    stage: str = Stage.LEAD
    has_owner: bool = False
    # When the lead entered its current stage: events received before do not move it again
    # (a lead recycled from SQL to MQL is not sent back by the demo request that made it an SQL).
    stage_changed_at: float = 0.0

    @property
    def email_domain(self) -> str:
        return email_domain_of(self.email)


def email_domain_of(email: str | None) -> str:
    email = (email or "").strip().lower()
    return email.rpartition("@")[2] if "@" in email else ""


class Event(NamedTuple):
    event_type: str
    occurred_at: float  # POSIX timestamp
    received_at: float  # POSIX timestamp; when we stored it
    properties: dict | None = None

    @classmethod
    def at(cls, event_type: str, occurred_at: datetime, received_at: datetime | None = None, **properties: Any):
        received = received_at or occurred_at
        return cls(event_type, occurred_at.timestamp(), received.timestamp(), properties or None)


@dataclass(frozen=True)
class ScoreResult:
    fit: int
    engagement: int
    total: int
    product: int  # engagement points earned by product (PQL signal) events
    breakdown: list[dict]
    fresh_high_intent: tuple[str, ...]  # high-intent event types received since the last stage change
    fresh_product_signal: bool  # a product event received since the last stage change


@dataclass(frozen=True)
class Move:
    to_stage: str
    reason: str


def round_half_away(value: float) -> int:
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def rule_points(rule: EngagementRule, raw: float) -> tuple[int, bool]:
    """A rule's points for one lead from its summed (decayed) points: capped, then rounded.
    Also whether the cap applied. scoring.selectors.leads_engagement_chunk() mirrors this in SQL."""
    if rule.cap is not None and abs(raw) > rule.cap:
        return round_half_away(math.copysign(rule.cap, raw)), True
    return round_half_away(raw), False


@dataclass
class RuleTotals:
    """A lead's events summed per engagement rule: what score_totals() turns into a score.

    score_lead() builds it from events in Python; on PostgreSQL the worker has the database build
    the same sums in one aggregate query per batch (scoring.selectors.rule_totals_by_lead).
    """

    sums: dict[int, float] = field(default_factory=dict)  # rule position -> points after decay
    counts: dict[int, int] = field(default_factory=dict)  # rule position -> matching events
    fresh_high_intent: set[str] = field(default_factory=set)
    fresh_product: bool = False


def sum_events(lead: LeadFacts, events: Iterable[Event], ruleset: RuleSet, now: float) -> RuleTotals:
    """Sum a lead's events per rule, decayed to `now`.

    `events` may be Event tuples or plain tuples in the same order (the worker passes database
    rows as they come, without building an object per event).
    """
    rules_by_type = ruleset.rules_by_event_type
    high_intent_types = ruleset.high_intent_event_types
    pql_types = ruleset.pql_event_types
    since = lead.stage_changed_at
    totals = RuleTotals()
    sums = totals.sums
    counts = totals.counts
    fresh_high_intent = totals.fresh_high_intent
    pow_ = math.pow
    for event_type, occurred_at, received_at, properties in events:
        if received_at > since:
            if event_type in high_intent_types:
                fresh_high_intent.add(event_type)
            if event_type in pql_types:
                totals.fresh_product = True
        rules = rules_by_type.get(event_type)
        if not rules:
            continue
        for position, rule in rules:
            if rule.property_key and not rule.matches(properties):
                continue
            points = rule.points
            if rule.half_life_days:
                age_days = (now - occurred_at) / SECONDS_PER_DAY
                if age_days > 0:
                    points = points * pow_(0.5, age_days / rule.half_life_days)
            sums[position] = sums.get(position, 0.0) + points
            counts[position] = counts.get(position, 0) + 1
    return totals


def score_lead(lead: LeadFacts, events: Iterable[Event], ruleset: RuleSet, now: float) -> ScoreResult:
    """Score one lead from all of its events. Deterministic for a given `now`."""
    return score_totals(lead, sum_events(lead, events, ruleset, now), ruleset)


def score_totals(lead: LeadFacts, totals: RuleTotals, ruleset: RuleSet) -> ScoreResult:
    """Fit rules, caps and rounding on top of the per-rule sums: the score and its breakdown."""
    breakdown: list[dict] = []
    fit = 0
    fit_rules = ruleset.fit_rules
    for position in ruleset.fit_scorer.positions(lead):
        rule = fit_rules[position]
        fit += rule.points
        breakdown.append({"kind": "fit", "rule_id": rule.id, "rule": rule.name, "points": rule.points})

    pql_types = ruleset.pql_event_types
    sums = totals.sums
    engagement = 0
    product = 0
    for position in sorted(sums):
        rule = ruleset.engagement_rules[position]
        points, capped = rule_points(rule, sums[position])
        engagement += points
        if rule.event_type in pql_types:
            product += points
        item = {
            "kind": "engagement",
            "rule_id": rule.id,
            "rule": rule.name,
            "points": points,
            "events": totals.counts[position],
        }
        if capped:
            item["capped"] = True
        if rule.half_life_days:
            item["decayed"] = True
        breakdown.append(item)

    return ScoreResult(
        fit=fit,
        engagement=engagement,
        total=fit + engagement,
        product=product,
        breakdown=breakdown,
        fresh_high_intent=tuple(sorted(totals.fresh_high_intent)),
        fresh_product_signal=totals.fresh_product,
    )


# Automatic moves only go forward: the stages each target may be reached from.
SQL_FROM = frozenset({Stage.LEAD, Stage.MQL, Stage.PQL})
PQL_FROM = frozenset({Stage.LEAD, Stage.MQL})
MQL_FROM = frozenset({Stage.LEAD})


def decide_move(lead: LeadFacts, result: ScoreResult, ruleset: RuleSet) -> Move | None:
    """The automatic move a score calls for, or None. Never for a lead a rep owns."""
    target = move_target(
        lead.stage,
        lead.has_owner,
        result.total,
        result.product,
        bool(result.fresh_high_intent),
        result.fresh_product_signal,
        ruleset,
    )
    if target is None:
        return None
    label = ruleset.label
    if target == Stage.SQL:
        names = ", ".join(result.fresh_high_intent)
        return Move(Stage.SQL, f"high-intent event {names} (score {result.total}, {label})")
    if target == Stage.PQL:
        return Move(
            Stage.PQL,
            f"product signals {result.product} reached PQL threshold {ruleset.pql_threshold} ({label})",
        )
    return Move(Stage.MQL, f"score {result.total} reached MQL threshold {ruleset.mql_threshold} ({label})")


def move_target(
    stage: str,
    has_owner: bool,
    total: int,
    product: int,
    fresh_high_intent: bool,
    fresh_product: bool,
    ruleset: RuleSet,
    /,
) -> str | None:
    """The stage an automatic move would take a lead to, or None: decide_move() without the
    reason, from plain values (the preview calls it for every lead without building objects)."""
    if has_owner:
        return None
    if fresh_high_intent and stage in SQL_FROM:
        return Stage.SQL
    if fresh_product and stage in PQL_FROM and product >= ruleset.pql_threshold:
        return Stage.PQL
    if stage in MQL_FROM and total >= ruleset.mql_threshold:
        return Stage.MQL
    return None


def projected_stage(lead: LeadFacts, result: ScoreResult, ruleset: RuleSet) -> str:
    move = decide_move(lead, result, ruleset)
    return move.to_stage if move else lead.stage

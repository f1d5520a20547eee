"""Achievement requirements with no I/O: parsing the guide's JSON format (extended), and a member's
progress (0-100) from their stats.

The guide's format is `{type, amount, pathway?, conditions?}`; `conditions` (an object of metric ->
amount, or a list of requirements) must all hold as well. Extended: `{"type": "all" | "any", "of":
[requirement, ...], "pathway"?}`, where a `pathway` on a group applies to the requirements inside it
that name none. Metrics (aliases in brackets): xp, level, pathway_level (level in a pathway, which
it needs), messages, voice_minutes, events_attended, tournaments_won, contributions, streak_days
[streak], achievements_count, member_days [days_member].

Progress of one metric is floor(100 * value / amount), at most 100; of `all`, the mean of its parts
(100 only when every part is); of `any`, the best part."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

PATHWAYS = ("gaming", "lorebound", "productive", "news")
ALIASES = {"streak": "streak_days", "days_member": "member_days"}
# Metrics with a per-pathway figure (pathway_progress) and how the global figure is made.
PER_PATHWAY = ("xp", "level", "events_attended", "contributions", "streak_days")
GLOBAL_ONLY = ("messages", "voice_minutes", "tournaments_won", "achievements_count", "member_days")
METRICS = (*PER_PATHWAY, "pathway_level", *GLOBAL_ONLY)
MAX_AMOUNT = 2_000_000_000
MAX_DEPTH = 4
MAX_PARTS = 10


class RuleError(ValueError):
    """A requirement that cannot be evaluated; `key` names where (e.g. `requirements.of[1].amount`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Leaf:
    metric: str  # canonical (pathway_level becomes level with a pathway)
    amount: int
    pathway: str | None = None

    def describe(self) -> str:
        where = f" in {self.pathway}" if self.pathway else ""
        return f"{self.metric.replace('_', ' ')} {self.amount:,}{where}"


@dataclass(frozen=True)
class Group:
    mode: str  # "all" or "any"
    parts: tuple[Rule, ...]


Rule = Leaf | Group


# Stats are built for thousands of members per evaluation: plain slotted classes (a frozen
# dataclass's constructor costs several times more).
@dataclass(slots=True)
class PathwayStats:
    xp: int = 0
    level: int = 1
    events_attended: int = 0
    contributions: int = 0
    streak_days: int = 0


@dataclass(slots=True)
class MemberStats:
    xp: int = 0
    level: int = 1
    messages: int = 0
    voice_minutes: int = 0
    events_attended: int = 0
    tournaments_won: int = 0
    achievements_count: int = 0  # earned, not counting the one being evaluated
    member_days: int = 0
    pathways: Mapping[str, PathwayStats] = field(default_factory=dict)


def parse(requirements: Mapping[str, Any], key: str = "requirements") -> Rule:
    """The rule of a requirements object, or RuleError naming the key at fault."""
    return _parse(requirements, key, None, 0)


def _parse(node: Any, key: str, inherited: str | None, depth: int) -> Rule:
    if not isinstance(node, Mapping):
        raise RuleError(key, 'must be an object like {type = "xp", amount = 1000}')
    if depth > MAX_DEPTH:
        raise RuleError(key, f"nested deeper than {MAX_DEPTH} levels")
    pathway = node.get("pathway", inherited)
    if pathway is not None and pathway not in PATHWAYS:
        raise RuleError(f"{key}.pathway", f"'{pathway}' is not a pathway ({', '.join(PATHWAYS)})")
    kind = node.get("type")
    known = {"type", "amount", "pathway", "conditions", "of"}
    unknown = sorted(set(node) - known)
    if unknown:
        raise RuleError(f"{key}.{unknown[0]}", "is not a requirement key (type, amount, pathway, conditions, of)")
    if kind in ("all", "any"):
        parts = node.get("of")
        if not isinstance(parts, list) or not parts:
            raise RuleError(f"{key}.of", f"'{kind}' needs a non-empty list of requirements")
        if len(parts) > MAX_PARTS:
            raise RuleError(f"{key}.of", f"at most {MAX_PARTS} requirements")
        if "amount" in node or "conditions" in node:
            raise RuleError(key, f"'{kind}' takes `of` (and `pathway`), not `amount` or `conditions`")
        return Group(kind, tuple(_parse(p, f"{key}.of[{i}]", pathway, depth + 1) for i, p in enumerate(parts)))
    if not isinstance(kind, str):
        raise RuleError(f"{key}.type", f"is required: one of {', '.join(METRICS)}, all, any")
    metric = ALIASES.get(kind, kind)
    if metric not in METRICS:
        raise RuleError(f"{key}.type", f"'{kind}' is not a metric ({', '.join(METRICS)}, all, any)")
    if "of" in node:
        raise RuleError(f"{key}.of", "only `all` and `any` take `of`")
    leaf = _leaf(metric, node.get("amount"), pathway, key)
    conditions = node.get("conditions")
    if conditions is None:
        return leaf
    extra = _conditions(conditions, f"{key}.conditions", pathway, depth)
    return Group("all", (leaf, *extra))


def _leaf(metric: str, amount: Any, pathway: str | None, key: str) -> Leaf:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RuleError(f"{key}.amount", "is required: a whole number of at least 1")
    if not 1 <= amount <= MAX_AMOUNT:
        raise RuleError(f"{key}.amount", f"must be between 1 and {MAX_AMOUNT:,}")
    if metric == "pathway_level":
        if pathway is None:
            raise RuleError(f"{key}.pathway", "pathway_level needs a pathway")
        metric = "level"
    if metric in GLOBAL_ONLY:
        pathway = None  # counted for the whole community (the guide's seeds name a pathway as a label)
    return Leaf(metric, amount, pathway)


def _conditions(conditions: Any, key: str, pathway: str | None, depth: int) -> list[Rule]:
    if isinstance(conditions, list):
        return [_parse(c, f"{key}[{i}]", pathway, depth + 1) for i, c in enumerate(conditions)]
    if not isinstance(conditions, Mapping) or not conditions:
        raise RuleError(key, "must be an object of metric = amount, or a list of requirements")
    rules: list[Rule] = []
    for name, amount in conditions.items():
        metric = ALIASES.get(name, name)
        if metric not in METRICS:
            raise RuleError(f"{key}.{name}", f"'{name}' is not a metric ({', '.join(METRICS)})")
        rules.append(_leaf(metric, amount, pathway, f"{key}.{name}"))
    return rules


def value_of(leaf: Leaf, stats: MemberStats) -> int:
    """The member's current figure for one metric."""
    if leaf.pathway is not None:
        figures = stats.pathways.get(leaf.pathway)
        if figures is None:
            return 1 if leaf.metric == "level" else 0  # not joined: level 1, nothing earned
        return int(getattr(figures, leaf.metric))
    if leaf.metric == "streak_days":
        return max((p.streak_days for p in stats.pathways.values()), default=0)
    if leaf.metric == "contributions":
        return sum(p.contributions for p in stats.pathways.values())
    return int(getattr(stats, leaf.metric))


def progress(rule: Rule, stats: MemberStats) -> int:
    """0-100; 100 means the requirement is met."""
    if isinstance(rule, Leaf):
        return min(100, (100 * max(0, value_of(rule, stats))) // rule.amount)
    parts = [progress(p, stats) for p in rule.parts]
    if rule.mode == "any":
        return max(parts)
    return sum(parts) // len(parts)


def compile_rule(rule: Rule) -> Callable[[MemberStats], int]:
    """The same sums as progress(), as one closure per rule: evaluating thousands of members after
    a flush calls it for every (member, achievement), so dispatch is done once here."""
    if isinstance(rule, Group):
        parts = [compile_rule(p) for p in rule.parts]
        if len(parts) == 1:
            return parts[0]
        if rule.mode == "any":
            return lambda s: max([f(s) for f in parts])
        count = len(parts)
        if count == 2:
            first, second = parts
            return lambda s: (first(s) + second(s)) // 2
        if count == 3:
            first, second, third = parts
            return lambda s: (first(s) + second(s) + third(s)) // 3
        return lambda s: sum([f(s) for f in parts]) // count
    amount, metric, pathway = rule.amount, rule.metric, rule.pathway
    if pathway is not None:
        missing = 1 if metric == "level" else 0
        read = attrgetter(metric)

        def in_pathway(s: MemberStats) -> int:
            figures = s.pathways.get(pathway)
            value = missing if figures is None else read(figures)
            return 100 if value >= amount else (100 * value) // amount if value > 0 else 0

        return in_pathway
    if metric in ("streak_days", "contributions"):
        return lambda s: min(100, (100 * max(0, value_of(rule, s))) // amount)
    read = attrgetter(metric)

    def overall(s: MemberStats) -> int:
        value = read(s)
        return 100 if value >= amount else (100 * value) // amount if value > 0 else 0

    return overall


def current_and_target(rule: Rule, stats: MemberStats) -> tuple[int, int] | None:
    """(value, amount) for a single-metric rule (shown as current/target); None for a group."""
    if isinstance(rule, Leaf):
        return min(value_of(rule, stats), rule.amount), rule.amount
    return None


def metrics_of(rule: Rule) -> set[str]:
    if isinstance(rule, Leaf):
        return {rule.metric}
    return set().union(*(metrics_of(p) for p in rule.parts))


def depends_on_time(rule: Rule) -> bool:
    """Whether progress moves with the calendar alone (member days), not only with activity."""
    return "member_days" in metrics_of(rule)


def describe(rule: Rule) -> str:
    if isinstance(rule, Leaf):
        return rule.describe()
    joined = (" and " if rule.mode == "all" else " or ").join(
        f"({describe(p)})" if isinstance(p, Group) else describe(p) for p in rule.parts
    )
    return joined


def to_plan(rule: Rule) -> dict[str, Any]:
    """The rule as plain data (what db/ compiles into SQL for a set-based backfill)."""
    if isinstance(rule, Leaf):
        return {"metric": rule.metric, "amount": rule.amount, "pathway": rule.pathway}
    return {"mode": rule.mode, "parts": [to_plan(p) for p in rule.parts]}


def progress_bar(percent: int, width: int = 10) -> str:
    filled = max(0, min(width, round(percent * width / 100)))
    return "▰" * filled + "▱" * (width - filled)

"""The XP ledger: batched grants from chat and voice, single grants (manual, reversal, events,
achievements), and the totals, levels, streaks and period boards that move with them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import asyncpg

from db import stats
from db.faults import MissingRows
from db.types import Executor

PERIOD_SOURCES = ("message", "voice", "event", "achievement", "reversal")


@dataclass(frozen=True)
class Grant:
    user_id: str
    source: str
    source_ref: str
    pathway: str | None
    amount: int
    created_at: datetime
    day: date  # the local day of created_at (streaks)
    week_start: date
    month_start: date


@dataclass(frozen=True)
class BoardChange:
    """A member's total on one board before and after (for level-ups and the rank index)."""

    user_id: str
    board: str  # "" for global, else the pathway id
    before: int
    after: int
    level_before: int
    level_after: int
    rank: str | None = None
    streak_days: int | None = None


@dataclass(frozen=True)
class PeriodChange:
    period: str
    period_start: date
    board: str
    user_id: str
    before: int
    after: int


@dataclass
class GrantResult:
    applied: list[Grant] = field(default_factory=list)
    duplicates: int = 0
    totals: list[BoardChange] = field(default_factory=list)
    periods: list[PeriodChange] = field(default_factory=list)

    @property
    def level_ups(self) -> list[BoardChange]:
        return [c for c in self.totals if c.level_after > c.level_before]


_INSERT_LEDGER = """
INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, created_at, reason, actor_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[],
                     $7::text[], $8::text[])
ON CONFLICT (source, source_ref, user_id) DO NOTHING
RETURNING id, user_id, source, source_ref
"""

# XP, voice minutes, message counts and last activity of a member in one UPDATE per flush.
_UPDATE_PROFILES = """
UPDATE user_profiles up
   SET total_xp = up.total_xp + d.delta,
       level = calculate_level_from_xp(up.total_xp + d.delta),
       voice_minutes = up.voice_minutes + d.voice_minutes,
       message_count = up.message_count + d.messages,
       last_active = GREATEST(up.last_active, d.last_at)
  FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::timestamptz[])
       AS d(user_id, delta, voice_minutes, messages, last_at)
 WHERE up.user_id = d.user_id
RETURNING up.user_id, up.total_xp, up.level, d.delta
"""

_UPSERT_PATHWAYS = """
INSERT INTO pathway_progress AS pp (user_id, pathway_id, total_xp, level, xp, next_level_xp, current_rank,
                                    streak_days, last_xp_date, last_active)
SELECT d.user_id, d.pathway, d.delta, calculate_level_from_xp(d.delta),
       d.delta - (calculate_level_from_xp(d.delta) - 1) * (calculate_level_from_xp(d.delta) - 1) * 100,
       get_next_level_xp(calculate_level_from_xp(d.delta)), rank_title_for_level(calculate_level_from_xp(d.delta)),
       d.run, d.day, d.last_at
  FROM unnest($1::text[], $2::text[], $3::int[], $4::date[], $5::timestamptz[], $6::int[])
       AS d(user_id, pathway, delta, day, last_at, run)
ON CONFLICT (user_id, pathway_id) DO UPDATE SET
  total_xp = pp.total_xp + EXCLUDED.total_xp,
  level = calculate_level_from_xp(pp.total_xp + EXCLUDED.total_xp),
  xp = pp.total_xp + EXCLUDED.total_xp
       - (calculate_level_from_xp(pp.total_xp + EXCLUDED.total_xp) - 1)
       * (calculate_level_from_xp(pp.total_xp + EXCLUDED.total_xp) - 1) * 100,
  next_level_xp = get_next_level_xp(calculate_level_from_xp(pp.total_xp + EXCLUDED.total_xp)),
  current_rank = rank_title_for_level(calculate_level_from_xp(pp.total_xp + EXCLUDED.total_xp)),
  -- EXCLUDED.streak_days: the days in a row this batch holds, ending on its last day (an outage or
  -- a stop across midnight writes several days at once).
  streak_days = CASE
    WHEN pp.last_xp_date IS NOT NULL AND pp.last_xp_date >= EXCLUDED.last_xp_date THEN GREATEST(pp.streak_days, 1)
    WHEN pp.last_xp_date >= EXCLUDED.last_xp_date - EXCLUDED.streak_days
      THEN pp.streak_days + (EXCLUDED.last_xp_date - pp.last_xp_date)
    ELSE EXCLUDED.streak_days END,
  last_xp_date = GREATEST(pp.last_xp_date, EXCLUDED.last_xp_date),
  last_active = GREATEST(pp.last_active, EXCLUDED.last_active)
RETURNING pp.user_id, pp.pathway_id, pp.total_xp, pp.level, pp.current_rank, pp.streak_days
"""

_UPSERT_PERIODS = """
INSERT INTO xp_period_totals AS t (period, period_start, pathway, user_id, xp)
SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::int[])
ON CONFLICT (period, period_start, pathway, user_id) DO UPDATE SET xp = t.xp + EXCLUDED.xp
RETURNING t.period, t.period_start, t.pathway, t.user_id, t.xp
"""


@dataclass(frozen=True)
class ChatActivity:
    """A member's messages since the last flush (counted once per message id upstream)."""

    user_id: str
    messages: int
    last_at: datetime
    moments: Mapping[datetime, int] | None = None  # messages per quarter hour (None: all at last_at)

    def per_quarter_hour(self, *, repeated: int = 0) -> dict[datetime, int]:
        """The messages per quarter hour, less `repeated` ones (taken from the latest)."""
        found = stats.by_quarter_hour(self.moments.items() if self.moments else [(self.last_at, self.messages)])
        for moment in sorted(found, reverse=True):
            if repeated <= 0:
                break
            taken = min(repeated, found[moment])
            found[moment] -= taken
            repeated -= taken
        return found


async def apply_grants(
    conn: asyncpg.Connection,
    grants: Sequence[Grant],
    *,
    reasons: Sequence[str | None] | None = None,
    actor_id: str | None = None,
    activity: Sequence[ChatActivity] = (),
    count_in_stats: bool = True,
) -> GrantResult:
    """Record grants in the ledger (a source grants at most once: repeats are skipped) and move
    totals, levels, ranks, streaks, voice minutes, message counts and period boards with them, one
    UPDATE per member. A message the ledger has seen already is not counted again either (a
    redelivered event). Call inside a transaction; every amount must be positive or already clamped
    by the caller. Imported rows (source `import`) leave last activity alone, and `count_in_stats`
    False keeps `activity`'s messages out of the server's day (an import's message counts are
    history). Raises MissingRows when a member's profile is gone."""
    result = GrantResult()
    if not grants and not activity:
        return result
    if not grants:
        await _update_profiles(conn, {}, {a.user_id: a for a in activity}, {}, result, count_in_stats=count_in_stats)
        return result
    rows = await conn.fetch(
        _INSERT_LEDGER,
        [g.user_id for g in grants],
        [g.source for g in grants],
        [g.source_ref for g in grants],
        [g.pathway for g in grants],
        [g.amount for g in grants],
        [g.created_at for g in grants],
        list(reasons) if reasons is not None else [None] * len(grants),
        [actor_id] * len(grants),
    )
    inserted = {(r["user_id"], r["source"], r["source_ref"]) for r in rows}
    applied = [g for g in grants if (g.user_id, g.source, g.source_ref) in inserted]
    result.applied = applied
    result.duplicates = len(grants) - len(applied)
    counts = {a.user_id: a for a in activity}
    repeated_messages: dict[str, int] = defaultdict(int)
    if result.duplicates:
        for g in grants:
            if g.source == "message" and (g.user_id, g.source, g.source_ref) not in inserted:
                repeated_messages[g.user_id] += 1

    per_user: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    last_at: dict[str, datetime] = {}
    per_pathway: dict[tuple[str, str], int] = defaultdict(int)
    pathway_day: dict[tuple[str, str], tuple[date, datetime]] = {}
    pathway_days: dict[tuple[str, str], set[date]] = defaultdict(set)
    per_period: dict[tuple[str, date, str, str], int] = defaultdict(int)
    for g in applied:
        per_user[g.user_id][0] += g.amount
        if g.source == "voice":
            per_user[g.user_id][1] += 1
        if g.source != "import":
            last_at[g.user_id] = max(last_at.get(g.user_id, g.created_at), g.created_at)
        boards = [""]
        if g.pathway is not None:
            key = (g.user_id, g.pathway)
            per_pathway[key] += g.amount
            day, at = pathway_day.get(key, (g.day, g.created_at))
            pathway_day[key] = (max(day, g.day), max(at, g.created_at))
            pathway_days[key].add(g.day)
            boards.append(g.pathway)
        if g.source in PERIOD_SOURCES:
            for board in boards:
                per_period[("week", g.week_start, board, g.user_id)] += g.amount
                per_period[("month", g.month_start, board, g.user_id)] += g.amount

    for user_id, entry in counts.items():
        last_at[user_id] = max(last_at.get(user_id, entry.last_at), entry.last_at)
    voice_at = stats.by_quarter_hour((g.created_at, 1) for g in applied if g.source == "voice")
    await _update_profiles(
        conn, per_user, counts, last_at, result, repeated_messages, count_in_stats=count_in_stats, voice_at=voice_at
    )
    if per_pathway:
        keys = sorted(per_pathway)
        pathway_rows = await conn.fetch(
            _UPSERT_PATHWAYS,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [per_pathway[k] for k in keys],
            [pathway_day[k][0] for k in keys],
            [pathway_day[k][1] for k in keys],
            [_days_in_a_row(pathway_days[k]) for k in keys],
        )
        for r in pathway_rows:
            before = r["total_xp"] - per_pathway[(r["user_id"], r["pathway_id"])]
            result.totals.append(
                BoardChange(
                    r["user_id"],
                    r["pathway_id"],
                    before,
                    r["total_xp"],
                    _level(before),
                    r["level"],
                    rank=r["current_rank"],
                    streak_days=r["streak_days"],
                )
            )
    if per_period:
        keys4 = sorted(per_period)
        period_rows = await conn.fetch(
            _UPSERT_PERIODS,
            [k[0] for k in keys4],
            [k[1] for k in keys4],
            [k[2] for k in keys4],
            [k[3] for k in keys4],
            [per_period[k] for k in keys4],
        )
        for r in period_rows:
            delta = per_period[(r["period"], r["period_start"], r["pathway"], r["user_id"])]
            result.periods.append(
                PeriodChange(r["period"], r["period_start"], r["pathway"], r["user_id"], r["xp"] - delta, r["xp"])
            )
    return result


async def _update_profiles(
    conn: asyncpg.Connection,
    per_user: dict[str, list[int]],
    counts: dict[str, ChatActivity],
    last_at: dict[str, datetime],
    result: GrantResult,
    repeated_messages: dict[str, int] | None = None,
    *,
    count_in_stats: bool = True,
    voice_at: Mapping[datetime, int] | None = None,
) -> None:
    users = sorted(set(per_user) | set(counts))  # one lock order for every writer of these rows
    repeated = repeated_messages or {}
    xp = [per_user[u][0] if u in per_user else 0 for u in users]
    voice = [per_user[u][1] if u in per_user else 0 for u in users]
    messages = [max(0, counts[u].messages - repeated.get(u, 0)) if u in counts else 0 for u in users]
    profile_rows = await conn.fetch(
        _UPDATE_PROFILES,
        users,
        xp,
        voice,
        messages,
        [last_at.get(u) or (counts[u].last_at if u in counts else None) for u in users],
    )
    if len(profile_rows) != len(users):
        raise MissingRows("user_profiles", sorted(set(users) - {r["user_id"] for r in profile_rows}))
    if count_in_stats:  # the server's days, in the same transaction: each on the day it happened
        sent = stats.by_quarter_hour(
            m for u in users if u in counts for m in counts[u].per_quarter_hour(repeated=repeated.get(u, 0)).items()
        )
        await stats.count_activity(conn, sent, voice_at or {})
    for r in profile_rows:
        if r["delta"]:
            before = r["total_xp"] - r["delta"]
            result.totals.append(BoardChange(r["user_id"], "", before, r["total_xp"], _level(before), r["level"]))


def _days_in_a_row(days: set[date]) -> int:
    """How many days in a row end on the latest of `days`."""
    latest = max(days)
    run = 1
    while latest - timedelta(days=run) in days:
        run += 1
    return run


def _level(total_xp: int) -> int:
    from math import isqrt

    return isqrt(max(0, total_xp) // 100) + 1


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    user_id: str
    source: str
    source_ref: str
    pathway: str | None
    amount: int
    created_at: datetime


async def entries_for_source(conn: Executor, source: str, source_ref: str) -> list[LedgerEntry]:
    rows = await conn.fetch(
        """SELECT id, user_id, source, source_ref, pathway, amount, created_at FROM xp_ledger
           WHERE source = $1 AND source_ref = $2 ORDER BY id""",
        source,
        source_ref,
    )
    return [LedgerEntry(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Totals:
    total_xp: int
    pathway_xp: int | None


async def lock_totals(conn: asyncpg.Connection, user_id: str, pathway: str | None) -> Totals:
    """The member's global (and pathway) total, locked for the rest of the transaction."""
    total = await conn.fetchval("SELECT total_xp FROM user_profiles WHERE user_id = $1 FOR UPDATE", user_id)
    pathway_xp = None
    if pathway is not None:
        pathway_xp = await conn.fetchval(
            "SELECT total_xp FROM pathway_progress WHERE user_id = $1 AND pathway_id = $2 FOR UPDATE",
            user_id,
            pathway,
        )
    return Totals(total or 0, pathway_xp if pathway is None else (pathway_xp or 0))


async def record_adjustment(
    conn: asyncpg.Connection,
    *,
    user_id: str,
    source: str,
    source_ref: str,
    pathway: str | None,
    amount: int,
    reason: str | None,
    actor_id: str | None,
    created_at: datetime,
    periods: tuple[date, date] | None = None,
) -> list[BoardChange] | None:
    """One ledger row for a manual change or a reversal (any sign), applied with apply_xp().
    `periods` (week start, month start) also moves those period boards (reversals do).
    The caller clamps `amount` so no total goes below zero. Returns the global (and pathway) board
    changes, or None when this source was recorded already."""
    entry_id = await conn.fetchval(
        """INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, reason, actor_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (source, source_ref, user_id) DO NOTHING RETURNING id""",
        user_id,
        source,
        source_ref,
        pathway,
        amount,
        reason,
        actor_id,
        created_at,
    )
    if entry_id is None:
        return None
    row = await conn.fetchrow("SELECT * FROM apply_xp($1, $2, $3)", user_id, pathway, amount)
    if periods is not None:
        for board in ["", *([pathway] if pathway else [])]:
            for period, start in (("week", periods[0]), ("month", periods[1])):
                await conn.execute(
                    """INSERT INTO xp_period_totals AS t (period, period_start, pathway, user_id, xp)
                       VALUES ($1, $2, $3, $4, $5)
                       ON CONFLICT (period, period_start, pathway, user_id) DO UPDATE SET xp = t.xp + EXCLUDED.xp""",
                    period,
                    start,
                    board,
                    user_id,
                    amount,
                )
    changes = [
        BoardChange(
            user_id,
            "",
            row["user_total_xp"] - amount,
            row["user_total_xp"],
            row["user_level_before"],
            row["user_level_after"],
        )
    ]
    if pathway is not None:
        rank = await conn.fetchval(
            "SELECT current_rank FROM pathway_progress WHERE user_id = $1 AND pathway_id = $2",
            user_id,
            pathway,
        )
        changes.append(
            BoardChange(
                user_id,
                pathway,
                row["pathway_total_xp"] - amount,
                row["pathway_total_xp"],
                row["pathway_level_before"],
                row["pathway_level_after"],
                rank=rank,
            )
        )
    return changes


async def pathway_totals(conn: Executor, user_id: str) -> dict[str, int]:
    rows = await conn.fetch("SELECT pathway_id, total_xp FROM pathway_progress WHERE user_id = $1", user_id)
    return {r["pathway_id"]: r["total_xp"] for r in rows}


async def ledger_sum(conn: Executor, user_id: str, pathway: str | None = None) -> int:
    if pathway is None:
        return await conn.fetchval("SELECT COALESCE(sum(amount), 0) FROM xp_ledger WHERE user_id = $1", user_id)
    return await conn.fetchval(
        "SELECT COALESCE(sum(amount), 0) FROM xp_ledger WHERE user_id = $1 AND pathway = $2", user_id, pathway
    )


async def ledger_mismatches(conn: Executor) -> list[str]:
    """Members whose profile total differs from the sum of their ledger rows (should be none)."""
    rows = await conn.fetch(
        """SELECT up.user_id FROM user_profiles up
           LEFT JOIN (SELECT user_id, sum(amount) AS s FROM xp_ledger GROUP BY user_id) l USING (user_id)
           WHERE up.total_xp <> COALESCE(l.s, 0)"""
    )
    return [r["user_id"] for r in rows]

"""Server statistics: the guide's server_stats singleton, its daily history (server_stats_daily),
the day's activity counters, and what /stats reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from db.types import Executor

PATHWAYS = ("gaming", "lorebound", "productive", "news")
# A day's figures are final once a refresh ran this long after it ended (the analytics flush, the
# slowest to bring rows in, runs every 10 s).
SETTLED_AFTER = timedelta(minutes=2)

# The community's local day and the moment it started (the timezone the bot writes at start-up).
_TODAY = """
SELECT (NOW() AT TIME ZONE tz)::date AS today,
       date_trunc('day', NOW() AT TIME ZONE tz) AT TIME ZONE tz AS starts
  FROM community_timezone() AS tz
"""


def quarter_hour(moment: datetime) -> datetime:
    """The UTC quarter hour a moment falls in: every time zone's offset is a whole number of quarter
    hours, so a quarter hour lies within one local day wherever the community is."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def by_quarter_hour(counts: Iterable[tuple[datetime, int]]) -> dict[datetime, int]:
    """(moment, count) pairs summed per quarter hour (what count_activity takes)."""
    summed: dict[datetime, int] = defaultdict(int)
    for moment, count in counts:
        summed[quarter_hour(moment)] += count
    return dict(summed)


async def count_activity(
    conn: Executor, messages: Mapping[datetime, int], voice_minutes: Mapping[datetime, int]
) -> None:
    """Add messages and voice minutes to server_stats_daily, each on the community's local day it
    happened (keyed by quarter hour, see quarter_hour), not the day the flush writes them: a
    message at 23:59 flushed at 00:00 counts for the day it was sent. In the caller's transaction."""
    moments = sorted({m for m, n in messages.items() if n > 0} | {m for m, n in voice_minutes.items() if n > 0})
    if not moments:
        return
    await conn.execute(
        """INSERT INTO server_stats_daily AS d (day, messages, voice_minutes)
           SELECT (m.at AT TIME ZONE tz)::date, sum(m.messages), sum(m.voice)
             FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[]) AS m(at, messages, voice),
                  community_timezone() AS tz
            GROUP BY 1
           ON CONFLICT (day) DO UPDATE SET messages = d.messages + EXCLUDED.messages,
                                           voice_minutes = d.voice_minutes + EXCLUDED.voice_minutes""",
        moments,
        [max(0, messages.get(m, 0)) for m in moments],
        [max(0, voice_minutes.get(m, 0)) for m in moments],
    )


@dataclass(frozen=True)
class Snapshot:
    """What a refresh wrote to server_stats and today's row of server_stats_daily."""

    day: date
    member_count: int | None  # None: no refresh counted the members that day (pathway_members is {} too)
    online_count: int | None
    boost_level: int
    boost_count: int
    active_members: int
    pathway_members: dict[str, int]
    messages: int
    voice_minutes: int
    xp: dict[str, int]
    joins: int
    leaves: int


# A local day's bounds: its midnight and the next one in the community's timezone (23 or 25 hours
# apart on the days daylight saving starts or ends).
_DAY_BOUNDS = """
SELECT ($1::date)::timestamp AT TIME ZONE tz AS starts, ($1::date + 1)::timestamp AT TIME ZONE tz AS ends
  FROM community_timezone() AS tz
"""


async def day_figures(conn: asyncpg.Connection, day: date) -> tuple[dict[str, int], int, int]:
    """XP earned (total and per pathway) from the ledger, joins and leaves from analytics, on one
    local day of the community (midnight to midnight in its timezone, whatever its length)."""
    bounds = await conn.fetchrow(_DAY_BOUNDS, day)
    starts, ends = bounds["starts"], bounds["ends"]
    xp_rows = await conn.fetch(  # imported XP is history, not earned that day
        """SELECT COALESCE(pathway, '') AS pathway, sum(amount)::bigint AS xp FROM xp_ledger
           WHERE created_at >= $1 AND created_at < $2 AND source <> 'import' GROUP BY 1""",
        starts,
        ends,
    )
    xp = {r["pathway"]: int(r["xp"]) for r in xp_rows if r["pathway"]}
    xp["total"] = sum(int(r["xp"]) for r in xp_rows)
    moves = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE event_type = 'member_join') AS joins,
                  count(*) FILTER (WHERE event_type = 'member_leave') AS leaves
           FROM analytics WHERE timestamp >= $1 AND timestamp < $2
            AND event_type IN ('member_join', 'member_leave')""",
        starts,
        ends,
    )
    return xp, moves["joins"], moves["leaves"]


async def refresh(
    conn: asyncpg.Connection, *, online_count: int | None, boost_level: int, boost_count: int
) -> Snapshot:
    """Recompute the current figures from the tables and write them to server_stats (the singleton)
    and to today's row of server_stats_daily; yesterday's XP, joins and leaves are recomputed until a
    refresh has run SETTLED_AFTER past midnight, so its last minutes count (rows reach the tables up to
    a flush interval late). Members are the users rows in the server (the member sync keeps them)."""
    async with conn.transaction():
        day = await conn.fetchrow(_TODAY)
        today, starts = day["today"], day["starts"]
        members = await conn.fetchrow(
            """SELECT count(*) AS members,
                      count(*) FILTER (WHERE up.last_active >= NOW() - INTERVAL '7 days'
                                         AND (up.message_count > 0 OR up.voice_minutes > 0)) AS active,
                      count(*) FILTER (WHERE u.pathways ? 'gaming') AS gaming,
                      count(*) FILTER (WHERE u.pathways ? 'lorebound') AS lorebound,
                      count(*) FILTER (WHERE u.pathways ? 'productive') AS productive,
                      count(*) FILTER (WHERE u.pathways ? 'news') AS news
               FROM users u LEFT JOIN user_profiles up ON up.user_id = u.id
               WHERE u.in_server"""
        )
        pathway_members = {p: int(members[p]) for p in PATHWAYS}
        await conn.execute(
            """INSERT INTO server_stats (id, member_count, online_count, boost_level, boost_count, pathway_stats,
                                         updated_at)
               VALUES (1, $1, $2, $3, $4, $5, NOW())
               ON CONFLICT (id) DO UPDATE SET member_count = EXCLUDED.member_count,
                 online_count = EXCLUDED.online_count, boost_level = EXCLUDED.boost_level,
                 boost_count = EXCLUDED.boost_count, pathway_stats = EXCLUDED.pathway_stats, updated_at = NOW()""",
            members["members"],
            online_count or 0,
            boost_level,
            boost_count,
            pathway_members,
        )
        yesterday = today - timedelta(days=1)
        settled = await conn.fetchval(
            "SELECT updated_at >= $2 FROM server_stats_daily WHERE day = $1", yesterday, starts + SETTLED_AFTER
        )
        if not settled:
            yesterday_xp, yesterday_joins, yesterday_leaves = await day_figures(conn, yesterday)
            await conn.execute(
                """INSERT INTO server_stats_daily AS d (day, xp, joins, leaves, updated_at)
                   VALUES ($1, $2, $3, $4, NOW())
                   ON CONFLICT (day) DO UPDATE SET xp = EXCLUDED.xp, joins = EXCLUDED.joins,
                     leaves = EXCLUDED.leaves, updated_at = NOW()""",
                yesterday,
                yesterday_xp,
                yesterday_joins,
                yesterday_leaves,
            )
        xp, joins, leaves = await day_figures(conn, today)
        row = await conn.fetchrow(
            """INSERT INTO server_stats_daily AS d (day, member_count, online_count, active_members, joins, leaves,
                                                    xp, pathway_members, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NOW())
               ON CONFLICT (day) DO UPDATE SET member_count = EXCLUDED.member_count,
                 online_count = EXCLUDED.online_count, active_members = EXCLUDED.active_members,
                 joins = EXCLUDED.joins, leaves = EXCLUDED.leaves, xp = EXCLUDED.xp,
                 pathway_members = EXCLUDED.pathway_members, updated_at = NOW()
               RETURNING messages, voice_minutes""",
            today,
            members["members"],
            online_count,
            members["active"],
            joins,
            leaves,
            xp,
            pathway_members,
        )
    return Snapshot(
        today,
        members["members"],
        online_count,
        boost_level,
        boost_count,
        members["active"],
        pathway_members,
        row["messages"],
        row["voice_minutes"],
        xp,
        joins,
        leaves,
    )


@dataclass(frozen=True)
class ServerStats:
    member_count: int
    online_count: int
    boost_level: int
    boost_count: int
    pathway_stats: dict[str, int]
    updated_at: datetime | None


async def current(conn: Executor) -> ServerStats:
    row = await conn.fetchrow(
        """SELECT member_count, online_count, boost_level, boost_count, pathway_stats, updated_at
           FROM server_stats WHERE id = 1"""
    )
    if row is None:
        return ServerStats(0, 0, 0, 0, dict.fromkeys(PATHWAYS, 0), None)
    return ServerStats(
        row["member_count"] or 0,
        row["online_count"] or 0,
        row["boost_level"] or 0,
        row["boost_count"] or 0,
        dict(row["pathway_stats"] or {}),
        row["updated_at"],
    )


@dataclass(frozen=True)
class Day:
    day: date
    member_count: int | None  # None: no refresh counted the members that day (pathway_members is {} too)
    online_count: int | None
    messages: int
    voice_minutes: int
    active_members: int
    joins: int
    leaves: int
    xp: dict[str, int]
    pathway_members: dict[str, int]


async def today(conn: Executor) -> date:
    return (await conn.fetchrow(_TODAY))["today"]


async def days(conn: Executor, since: date) -> list[Day]:
    """The daily history from `since` (inclusive), oldest first; days without a row are absent."""
    rows = await conn.fetch(
        """SELECT day, member_count, online_count, messages, voice_minutes, active_members, joins, leaves, xp,
                  pathway_members
           FROM server_stats_daily WHERE day >= $1 ORDER BY day""",
        since,
    )
    # A day's member figures come from a refresh (which writes every pathway's count); a row the
    # activity flushes or the settling of yesterday made has none: None, not a count of 0.
    return [
        Day(
            r["day"],
            r["member_count"] if r["pathway_members"] else None,
            r["online_count"],
            r["messages"],
            r["voice_minutes"],
            r["active_members"],
            r["joins"],
            r["leaves"],
            {k: int(v) for k, v in (r["xp"] or {}).items()},
            {k: int(v) for k, v in (r["pathway_members"] or {}).items()},
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PathwaySummary:
    """A pathway as it is now, read from the tables (pathway_stats_cache, refreshed every 15 minutes
    for the website, would disagree with /profile right after activity)."""

    pathway: str
    members_in_server: int  # members in the server who joined it
    members_with_xp: int  # members in the server with XP in it (joined now or earlier)
    average_level: float  # of those
    total_xp: int  # theirs
    top: list[tuple[str, int, int]]  # (discord id, level, total xp), best first


async def pathway_summary(conn: Executor, pathway: str, *, top: int = 3) -> PathwaySummary:
    in_server = await conn.fetchval("SELECT count(*) FROM users WHERE in_server AND pathways ? $1", pathway)
    totals = await conn.fetchrow(
        """SELECT count(*) AS with_xp, COALESCE(avg(pp.level), 0) AS average_level,
                  COALESCE(sum(pp.total_xp), 0)::bigint AS total_xp
           FROM pathway_progress pp JOIN users u ON u.id = pp.user_id
           WHERE pp.pathway_id = $1 AND pp.total_xp > 0 AND u.in_server""",
        pathway,
    )
    leaders = await conn.fetch(
        """SELECT u.discord_id, pp.level, pp.total_xp FROM pathway_progress pp JOIN users u ON u.id = pp.user_id
           WHERE pp.pathway_id = $1 AND pp.total_xp > 0 AND u.in_server
           ORDER BY pp.total_xp DESC, pp.user_id LIMIT $2""",
        pathway,
        top,
    )
    return PathwaySummary(
        pathway,
        in_server,
        totals["with_xp"],
        float(totals["average_level"]),
        int(totals["total_xp"]),
        [(r["discord_id"], r["level"], r["total_xp"]) for r in leaders],
    )


@dataclass(frozen=True)
class MemberStats:
    level: int
    total_xp: int
    messages: int
    voice_minutes: int
    events_attended: int
    achievements: int
    xp_by_day: dict[date, dict[str, int]]  # local day -> {"total": n, "<pathway>": n}


async def member_stats(conn: Executor, user_id: str, since: date) -> MemberStats | None:
    """A member's figures and their XP per day (from the ledger) since `since`, local days."""
    profile = await conn.fetchrow(
        """SELECT up.level, up.total_xp, up.message_count, up.voice_minutes, up.events_attended,
                  (SELECT count(*) FROM user_achievements ua WHERE ua.user_id = up.user_id AND ua.progress >= 100)
                    AS achievements
           FROM user_profiles up WHERE up.user_id = $1""",
        user_id,
    )
    if profile is None:
        return None
    rows = await conn.fetch(
        """SELECT (l.created_at AT TIME ZONE tz)::date AS day, COALESCE(l.pathway, '') AS pathway,
                  sum(l.amount)::bigint AS xp
           FROM xp_ledger l, community_timezone() AS tz
           WHERE l.user_id = $1 AND l.created_at >= ($2::date::timestamp AT TIME ZONE tz) AND l.source <> 'import'
           GROUP BY 1, 2""",
        user_id,
        since,
    )
    by_day: dict[date, dict[str, int]] = {}
    for r in rows:
        figures = by_day.setdefault(r["day"], {"total": 0})
        figures["total"] += int(r["xp"])
        if r["pathway"]:
            figures[r["pathway"]] = int(r["xp"])
    return MemberStats(
        profile["level"],
        profile["total_xp"],
        profile["message_count"],
        profile["voice_minutes"],
        profile["events_attended"],
        profile["achievements"],
        by_day,
    )


async def command_counts(conn: Executor, since: datetime, *, limit: int = 5) -> list[tuple[str, int]]:
    """The most used commands since `since` (analytics command_used rows)."""
    rows = await conn.fetch(
        """SELECT event_label, count(*) AS uses FROM analytics
           WHERE event_type = 'command_used' AND timestamp >= $1 GROUP BY event_label
           ORDER BY uses DESC, event_label LIMIT $2""",
        since,
        limit,
    )
    return [(r["event_label"], r["uses"]) for r in rows]


# -- analytics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyticsRow:
    """One analytics event as the bot records it (the guide's columns the bot has values for)."""

    event_type: str
    at: datetime
    user_id: str | None = None  # users.id when the caller knows it ...
    discord_id: str | None = None  # ... else the member's Discord id (resolved when written)
    category: str | None = None
    action: str | None = None
    label: str | None = None
    value: float | None = None
    pathway: str | None = None


async def insert_analytics(conn: Executor, rows: list[AnalyticsRow]) -> int:
    """Write analytics rows in one statement. A member with no users row (deleted meanwhile) or an
    erased one (/erase ran while the row waited) is written without a member, as the erasure or ON
    DELETE SET NULL would have left it."""
    if not rows:
        return 0
    result = await conn.execute(
        """INSERT INTO analytics (user_id, event_type, event_category, event_action, event_label, event_value,
                                  pathway, timestamp)
           SELECT COALESCE((SELECT u.id FROM users u WHERE u.id = b.user_id AND u.discord_id NOT LIKE 'erased:%'),
                           (SELECT u.id FROM users u WHERE u.discord_id = b.discord_id)),
                  b.event_type, b.category, b.action, b.label, b.value, b.pathway, b.at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[],
                       $8::text[], $9::timestamptz[])
                AS b(user_id, discord_id, event_type, category, action, label, value, pathway, at)""",
        [r.user_id for r in rows],
        [r.discord_id for r in rows],
        [r.event_type for r in rows],
        [r.category for r in rows],
        [r.action for r in rows],
        [r.label for r in rows],
        [r.value for r in rows],
        [r.pathway for r in rows],
        [r.at for r in rows],
    )
    return int(result.split()[-1])

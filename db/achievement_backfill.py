"""The set-based backfill of one achievement: a rule (bot.rules.achievements.to_plan) compiled into
one SQL progress expression over every current member, the same sums as the Python rules (a test
holds them equal)."""

from __future__ import annotations

from typing import Any

import asyncpg

from db.achievements import PATHWAYS
from db.types import Executor

_GLOBAL = {
    "xp": "up.total_xp",
    "level": "up.level",
    "messages": "up.message_count",
    "voice_minutes": "up.voice_minutes",
    "events_attended": "up.events_attended",
    "tournaments_won": "up.tournaments_won",
    "member_days": "GREATEST(0, floor(EXTRACT(EPOCH FROM NOW() - COALESCE(u.joined_at, NOW())) / 86400))",
    "achievements_count": "COALESCE(earned.n, 0)",
    "streak_days": "COALESCE(paths.streak, 0)",
    "contributions": "COALESCE(paths.contributions, 0)",
}
_PATHWAY = {
    "xp": "total_xp",
    "level": "level",
    "events_attended": "events_attended",
    "contributions": "contributions",
    "streak_days": "streak_days",
}


def _expression(plan: dict[str, Any], joins: set[str]) -> str:
    """A rule (bot.rules.achievements.to_plan) as a SQL progress expression 0-100, the same sums as
    the Python rules."""
    if "mode" in plan:
        parts = [_expression(p, joins) for p in plan["parts"]]
        if plan["mode"] == "any":
            return f"GREATEST({', '.join(parts)})"
        return f"(({' + '.join(parts)}) / {len(parts)})"
    metric, amount, pathway = plan["metric"], int(plan["amount"]), plan["pathway"]
    if pathway is not None:
        if pathway not in PATHWAYS or metric not in _PATHWAY:
            raise ValueError(f"no per-pathway figure for {metric} in {pathway}")
        joins.add(pathway)
        default = "1" if metric == "level" else "0"
        value = f"COALESCE(pp_{pathway}.{_PATHWAY[metric]}, {default})"
    else:
        value = _GLOBAL[metric]
        if metric == "achievements_count":
            joins.add("earned")
        if metric in ("streak_days", "contributions"):
            joins.add("paths")
    return f"LEAST(100, (100 * GREATEST(0, ({value})::bigint)) / {amount})::int"


def _stats_from(joins: set[str]) -> str:
    sql = "users u JOIN user_profiles up ON up.user_id = u.id"
    for pathway in PATHWAYS:
        if pathway in joins:
            sql += (
                f" LEFT JOIN pathway_progress pp_{pathway}"
                f" ON pp_{pathway}.user_id = u.id AND pp_{pathway}.pathway_id = '{pathway}'"
            )
    if "earned" in joins:
        sql += """ LEFT JOIN (SELECT user_id, count(*) AS n FROM user_achievements
                              WHERE progress = 100 AND achievement_id <> $1 GROUP BY user_id) earned
                   ON earned.user_id = u.id"""
    if "paths" in joins:
        sql += """ LEFT JOIN (SELECT user_id, max(streak_days) AS streak, sum(contributions) AS contributions
                              FROM pathway_progress GROUP BY user_id) paths ON paths.user_id = u.id"""
    return sql


async def backfill(conn: asyncpg.Connection, achievement_id: str, plan: dict[str, Any]) -> tuple[int, list[str]]:
    """Every current member's progress on one achievement, computed in SQL in one statement:
    in-progress rows written (only where they changed); returns (rows written, the members who now
    qualify and do not hold it yet, staff's revocations left out)."""
    joins: set[str] = set()
    expression = _expression(plan, joins)
    source = _stats_from(joins)
    await conn.execute(
        f"""CREATE TEMP TABLE backfill_progress ON COMMIT DROP AS
            SELECT u.id AS user_id, {expression} AS progress FROM {source}
            WHERE u.in_server AND $1::text IS NOT NULL""",
        achievement_id,
    )
    status = await conn.execute(
        """INSERT INTO user_achievements AS ua (user_id, achievement_id, progress, earned_at)
           SELECT user_id, $1, progress, NULL FROM backfill_progress WHERE progress BETWEEN 1 AND 99
           ON CONFLICT (user_id, achievement_id) DO UPDATE SET progress = EXCLUDED.progress
           WHERE ua.progress < 100 AND ua.progress IS DISTINCT FROM EXCLUDED.progress""",
        achievement_id,
    )
    qualifying = await conn.fetch(
        """SELECT b.user_id FROM backfill_progress b
           WHERE b.progress >= 100 AND NOT EXISTS (
             SELECT 1 FROM user_achievements ua
             WHERE ua.user_id = b.user_id AND ua.achievement_id = $1 AND ua.progress = 100)
             AND NOT EXISTS (
             SELECT 1 FROM achievement_revocations r WHERE r.user_id = b.user_id AND r.achievement_id = $1)
           ORDER BY b.user_id""",
        achievement_id,
    )
    await conn.execute("DROP TABLE backfill_progress")
    return int(status.split()[-1]), [r["user_id"] for r in qualifying]


async def progress_in_sql(conn: Executor, achievement_id: str, plan: dict[str, Any], user_id: str) -> int:
    """One member's progress as the backfill computes it (to check it against the Python rules)."""
    joins: set[str] = set()
    expression = _expression(plan, joins)
    return await conn.fetchval(
        f"SELECT {expression} FROM {_stats_from(joins)} WHERE u.id = $2 AND $1::text IS NOT NULL",
        achievement_id,
        user_id,
    )

"""Pathway membership: joining, leaving, the primary pathway."""

from __future__ import annotations

from datetime import date

import asyncpg

from db.types import Executor
from db.xp import join_pathway  # noqa: F401  (re-exported: joining lives with the rest of membership)


async def joined_by_member(conn: Executor) -> dict[str, list[str]]:
    """discord_id -> joined pathway ids, for every member who joined any."""
    rows = await conn.fetch("SELECT discord_id, pathways FROM users WHERE pathways <> '[]'::jsonb")
    return {r["discord_id"]: list(r["pathways"]) for r in rows}


async def leave_pathway(conn: asyncpg.Connection, user_id: str, pathway_id: str) -> bool:
    """Leave a pathway (its progress row and XP are kept for a return). The primary pathway moves to
    the next joined one, or none. False when the member had not joined it."""
    return bool(
        await conn.fetchval(
            """
            UPDATE users
               SET pathways = pathways - $2::text,
                   pathway_join_dates = pathway_join_dates - $2::text,
                   primary_pathway = CASE WHEN primary_pathway = $2::text
                                          THEN (pathways - $2::text) ->> 0 ELSE primary_pathway END
             WHERE id = $1 AND pathways ? $2::text
            RETURNING true
            """,
            user_id,
            pathway_id,
        )
    )


async def set_primary(conn: Executor, user_id: str, pathway_id: str) -> bool:
    """Make a joined pathway the primary one; False when the member has not joined it."""
    return bool(
        await conn.fetchval(
            "UPDATE users SET primary_pathway = $2 WHERE id = $1 AND pathways ? $2::text RETURNING true",
            user_id,
            pathway_id,
        )
    )


async def joined(conn: Executor, user_ids: list[str], pathway_id: str) -> set[str]:
    """Which of these members have joined the pathway (now)."""
    rows = await conn.fetch(
        "SELECT id FROM users WHERE id = ANY($1::text[]) AND pathways ? $2::text", user_ids, pathway_id
    )
    return {r["id"] for r in rows}


async def membership(conn: Executor, user_id: str) -> tuple[list[str], str | None]:
    row = await conn.fetchrow("SELECT pathways, primary_pathway FROM users WHERE id = $1", user_id)
    return (list(row["pathways"]), row["primary_pathway"]) if row else ([], None)


async def reset_broken_streaks(conn: Executor, today: date) -> int:
    """A missed day resets the streak: zero every streak whose last XP day is before yesterday."""
    status = await conn.execute(
        "UPDATE pathway_progress SET streak_days = 0 WHERE streak_days > 0 AND last_xp_date < $1::date - 1",
        today,
    )
    return int(status.split()[-1])

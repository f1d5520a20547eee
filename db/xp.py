"""XP, levels and pathway progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.types import Executor


@dataclass(frozen=True)
class XPAward:
    """The outcome of award_xp(): totals after, and the levels before and after."""

    user_level_before: int
    user_level_after: int
    user_total_xp: int
    pathway_level_before: int | None
    pathway_level_after: int | None
    pathway_total_xp: int | None

    @property
    def levelled_up(self) -> bool:
        return self.user_level_after > self.user_level_before

    @property
    def pathway_levelled_up(self) -> bool:
        return (
            self.pathway_level_after is not None
            and self.pathway_level_before is not None
            and self.pathway_level_after > self.pathway_level_before
        )


@dataclass(frozen=True)
class PathwayProgress:
    pathway_id: str
    level: int
    xp: int
    total_xp: int
    next_level_xp: int
    current_rank: str
    streak_days: int
    joined_at: datetime | None


async def award_xp(conn: Executor, user_id: str, pathway_id: str | None, amount: int) -> XPAward:
    """Add `amount` XP (negative takes) to the member and, if given, the pathway; atomic."""
    row = await conn.fetchrow("SELECT * FROM award_xp($1, $2, $3)", user_id, pathway_id, amount)
    return XPAward(**dict(row))


async def pathway_progress(conn: Executor, user_id: str) -> list[PathwayProgress]:
    rows = await conn.fetch(
        """
        SELECT pathway_id, level, xp, total_xp, next_level_xp, current_rank, streak_days, joined_at
        FROM pathway_progress WHERE user_id = $1 ORDER BY pathway_id
        """,
        user_id,
    )
    return [PathwayProgress(**dict(r)) for r in rows]


async def join_pathway(conn: asyncpg.Connection, user_id: str, pathway_id: str) -> bool:
    """Join a pathway: users.pathways, join date, primary pathway (the first joined), progress row
    and an analytics `pathway_join` row. Returns False when the member had already joined."""
    async with conn.transaction():
        joined = await conn.fetchval(
            """
            UPDATE users
               SET pathways = pathways || to_jsonb($2::text),
                   pathway_join_dates = pathway_join_dates || jsonb_build_object($2::text, NOW()),
                   primary_pathway = COALESCE(primary_pathway, $2::text)
             WHERE id = $1 AND NOT (pathways ? $2::text)
            RETURNING true
            """,
            user_id,
            pathway_id,
        )
        if not joined:
            return False
        await conn.execute(
            """
            INSERT INTO pathway_progress (user_id, pathway_id) VALUES ($1, $2)
            ON CONFLICT (user_id, pathway_id) DO NOTHING
            """,
            user_id,
            pathway_id,
        )
        await conn.execute(
            """
            INSERT INTO analytics (user_id, event_type, event_category, event_action, event_label, pathway)
            VALUES ($1, 'pathway_join', 'pathway', 'join', $2, $2)
            """,
            user_id,
            pathway_id,
        )
    return True


async def sync_rank_titles(conn: asyncpg.Connection, titles: Mapping[int, str]) -> None:
    """Make rank_titles hold exactly the configured titles (what award_xp() reads)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM rank_titles")
        await conn.executemany("INSERT INTO rank_titles (min_level, title) VALUES ($1, $2)", sorted(titles.items()))


async def sync_timezone(conn: Executor, timezone: str) -> None:
    """The community's timezone, for the SQL functions that move the week and month boards."""
    await conn.execute(
        """INSERT INTO community_settings (key, value) VALUES ('timezone', $1)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        timezone,
    )

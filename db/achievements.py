"""Achievements and awards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.types import Executor


@dataclass(frozen=True)
class Achievement:
    id: str
    name: str
    description: str | None
    pathway: str | None
    category: str | None
    rarity: str
    xp: int
    requirements: dict[str, Any]
    hidden: bool
    total_earned: int


async def award_achievement(conn: Executor, user_id: str, achievement_id: str) -> bool:
    """Award it; True only for a new award (the XP is granted then and only then)."""
    return await conn.fetchval("SELECT award_achievement($1, $2)", user_id, achievement_id)


async def list_achievements(conn: Executor, *, include_hidden: bool = False) -> list[Achievement]:
    rows = await conn.fetch(
        """
        SELECT id, name, description, pathway, category, rarity, xp, requirements, hidden, total_earned
        FROM achievements WHERE is_active AND (NOT hidden OR $1) ORDER BY id
        """,
        include_hidden,
    )
    return [Achievement(**dict(r)) for r in rows]


async def earned_ids(conn: Executor, user_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT achievement_id FROM user_achievements WHERE user_id = $1 AND progress = 100", user_id
    )
    return {r["achievement_id"] for r in rows}

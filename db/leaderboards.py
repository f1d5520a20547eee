"""Leaderboards: pages of the top members and one member's position, globally or per pathway."""

from __future__ import annotations

from dataclasses import dataclass

from db.types import Executor


@dataclass(frozen=True)
class LeaderboardRow:
    position: int
    user_id: str
    discord_id: str
    username: str
    display_name: str | None
    total_xp: int
    level: int


_GLOBAL_PAGE = """
SELECT u.id AS user_id, u.discord_id, u.username, up.display_name, up.total_xp, up.level
FROM user_profiles up JOIN users u ON u.id = up.user_id
WHERE u.in_server
ORDER BY up.total_xp DESC, u.id
LIMIT $1 OFFSET $2
"""

_PATHWAY_PAGE = """
SELECT u.id AS user_id, u.discord_id, u.username, up.display_name, pp.total_xp, pp.level
FROM pathway_progress pp
JOIN users u ON u.id = pp.user_id
JOIN user_profiles up ON up.user_id = pp.user_id
WHERE pp.pathway_id = $3 AND u.in_server
ORDER BY pp.total_xp DESC, u.id
LIMIT $1 OFFSET $2
"""


async def top_members(
    conn: Executor, *, pathway: str | None = None, limit: int = 10, offset: int = 0
) -> list[LeaderboardRow]:
    """One page of members who are in the server, highest XP first (ties by id, so pages are stable)."""
    if pathway is None:
        rows = await conn.fetch(_GLOBAL_PAGE, limit, offset)
    else:
        rows = await conn.fetch(_PATHWAY_PAGE, limit, offset, pathway)
    return [LeaderboardRow(position=offset + i + 1, **dict(r)) for i, r in enumerate(rows)]


async def member_position(conn: Executor, user_id: str, *, pathway: str | None = None) -> int | None:
    """1-based position by XP among members in the server (ties share the better position)."""
    if pathway is None:
        return await conn.fetchval(
            """
            SELECT 1 + (SELECT count(*) FROM user_profiles o JOIN users ou ON ou.id = o.user_id
                        WHERE ou.in_server AND o.total_xp > me.total_xp)
            FROM user_profiles me JOIN users u ON u.id = me.user_id
            WHERE me.user_id = $1 AND u.in_server
            """,
            user_id,
        )
    return await conn.fetchval(
        """
        SELECT 1 + (SELECT count(*) FROM pathway_progress o JOIN users ou ON ou.id = o.user_id
                    WHERE ou.in_server AND o.pathway_id = $2 AND o.total_xp > me.total_xp)
        FROM pathway_progress me JOIN users u ON u.id = me.user_id
        WHERE me.user_id = $1 AND me.pathway_id = $2 AND u.in_server
        """,
        user_id,
        pathway,
    )

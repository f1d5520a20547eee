"""Synthetic communities for the benchmarks (never used by the bot): members with a realistic, skewed
XP spread, pathway members, and weekly and monthly activity, generated inside PostgreSQL."""

from __future__ import annotations

from datetime import date

import asyncpg


async def seed_members(conn: asyncpg.Connection, count: int, *, week_start: date, month_start: date) -> None:
    """`count` members (1 in 50 has left the server). XP follows a long tail: most members have little,
    a few have a lot. A quarter join each pathway; 10% were active this week, 30% this month."""
    await conn.execute("ALTER TABLE users DISABLE TRIGGER update_users_updated_at")
    await conn.execute(
        """
        INSERT INTO users (id, discord_id, username, in_server)
        SELECT 'user_' || lpad(g::text, 9, '0'), (100000000000000000 + g)::text, 'member' || g, g % 50 <> 0
        FROM generate_series(1, $1) AS g
        """,
        count,
    )
    await conn.execute("ALTER TABLE users ENABLE TRIGGER update_users_updated_at")
    await conn.execute("ALTER TABLE user_profiles DISABLE TRIGGER update_user_profiles_updated_at")
    await conn.execute(
        """
        UPDATE user_profiles SET total_xp = x.xp, level = calculate_level_from_xp(x.xp),
               message_count = x.xp / 20
        FROM (SELECT user_id, floor(power(random(), 4) * 500000)::int AS xp FROM user_profiles) x
        WHERE user_profiles.user_id = x.user_id
        """
    )
    await conn.execute("ALTER TABLE user_profiles ENABLE TRIGGER update_user_profiles_updated_at")
    await conn.execute(
        """
        INSERT INTO pathway_progress (user_id, pathway_id, total_xp, level, xp, next_level_xp)
        SELECT up.user_id, p.id, t.xp, calculate_level_from_xp(t.xp), 0,
               get_next_level_xp(calculate_level_from_xp(t.xp))
        FROM user_profiles up
        CROSS JOIN (VALUES ('gaming', 0), ('lorebound', 1), ('productive', 2), ('news', 3)) AS p(id, n)
        CROSS JOIN LATERAL (SELECT (up.total_xp * random())::int AS xp) t
        WHERE hashtext(up.user_id || p.id) % 4 = 0
        """
    )
    await conn.execute(
        """
        INSERT INTO xp_period_totals (period, period_start, pathway, user_id, xp)
        SELECT 'week', $1::date, '', user_id, 1 + floor(power(random(), 3) * 5000)::int
        FROM user_profiles WHERE hashtext(user_id) % 10 = 0
        UNION ALL
        SELECT 'month', $2::date, '', user_id, 1 + floor(power(random(), 3) * 20000)::int
        FROM user_profiles WHERE hashtext(user_id) % 10 IN (0, 1, 2)
        """,
        week_start,
        month_start,
    )
    await conn.execute("ANALYZE")


async def random_members(conn: asyncpg.Connection, count: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT user_id FROM user_profiles TABLESAMPLE SYSTEM (1) WHERE total_xp > 0 LIMIT $1", count
    )
    return [r["user_id"] for r in rows]


# The guide's user_leaderboard as it was written: a window over every member, on each request.
GUIDE_VIEW = """
SELECT u.id, u.discord_id, u.username, u.avatar, up.display_name, up.total_xp, up.level, up.message_count,
       up.events_attended, up.tournaments_won,
       RANK() OVER (ORDER BY up.total_xp DESC) AS rank, DENSE_RANK() OVER (ORDER BY up.level DESC) AS level_rank
FROM users u JOIN user_profiles up ON u.id = up.user_id
WHERE u.in_server = true
ORDER BY up.total_xp DESC
"""


async def private_profiles(conn: asyncpg.Connection, every: int = 20) -> None:
    """One member in `every` makes their profile private (left out of the public boards)."""
    await conn.execute("ALTER TABLE user_profiles DISABLE TRIGGER update_user_profiles_updated_at")
    await conn.execute(
        """UPDATE user_profiles SET preferences = preferences || '{"public_profile": false}'
           WHERE hashtext(user_id || 'private') % $1 = 0""",
        every,
    )
    await conn.execute("ALTER TABLE user_profiles ENABLE TRIGGER update_user_profiles_updated_at")
    await conn.execute("ANALYZE user_profiles")


async def guide_view_top_page(conn: asyncpg.Connection, limit: int = 10) -> list[asyncpg.Record]:
    """The guide's way: a top page from its user_leaderboard view."""
    return await conn.fetch(f"SELECT * FROM ({GUIDE_VIEW}) v LIMIT $1", limit)


async def view_top_page(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The guide's way: a top-10 page from the user_leaderboard view."""
    return await guide_view_top_page(conn, 10)


async def view_member_rank(conn: asyncpg.Connection, user_id: str) -> int | None:
    """The guide's way: one member's rank from the user_leaderboard view."""
    return await conn.fetchval(f"SELECT rank FROM ({GUIDE_VIEW}) v WHERE id = $1", user_id)


async def plain_count_above(conn: asyncpg.Connection, xp: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM user_profiles WHERE total_xp > $1", xp)


async def random_board_members(conn: asyncpg.Connection, board: object, count: int) -> list[str]:
    """Random members who are on `board` (a db.boards.Board) and in the server."""
    relation, args = board.relation(2)  # type: ignore[attr-defined]
    rows = await conn.fetch(
        f"SELECT b.user_id FROM ({relation}) b JOIN users u ON u.id = b.user_id WHERE u.in_server "
        f"ORDER BY hashtext(b.user_id || 'sample') LIMIT $1",
        count,
        *args,
    )
    return [r["user_id"] for r in rows]

"""Leaderboard pages by keyset (fast at any depth), board XP of a member, and XP histograms for the
in-memory position index. A board is all-time, weekly or monthly, global or per pathway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from db.types import Executor


@dataclass(frozen=True)
class Board:
    period: str  # all | week | month
    start: date | None  # period start (None for all-time)
    pathway: str  # "" for the global board

    def relation(self, first_param: int) -> tuple[str, list[Any]]:
        """A subquery (user_id, xp) of the board's members with XP, and its parameters."""
        if self.period == "all" and not self.pathway:
            return "SELECT user_id, total_xp AS xp FROM user_profiles WHERE total_xp > 0", []
        if self.period == "all":
            return (
                f"SELECT user_id, total_xp AS xp FROM pathway_progress "
                f"WHERE pathway_id = ${first_param} AND total_xp > 0",
                [self.pathway],
            )
        n = first_param
        return (
            f"SELECT user_id, xp FROM xp_period_totals "
            f"WHERE period = ${n} AND period_start = ${n + 1} AND pathway = ${n + 2} AND xp > 0",
            [self.period, self.start, self.pathway],
        )


@dataclass(frozen=True)
class BoardRow:
    user_id: str
    discord_id: str
    username: str
    display_name: str | None
    xp: int


Cursor = tuple[int, str]  # (xp, user_id) of a row: pages continue strictly after or before it


_PAGE_COLUMNS = "b.user_id, u.discord_id, u.username, up.display_name, b.xp"
_PAGE_JOIN = "JOIN users u ON u.id = b.user_id JOIN user_profiles up ON up.user_id = b.user_id"


async def page(
    conn: Executor, board: Board, *, after: Cursor | None = None, before: Cursor | None = None, limit: int = 10
) -> list[BoardRow]:
    """Up to `limit` rows of members in the server, most XP first (ties: higher user id first),
    strictly after `after` or strictly before `before` in that order.

    Keyset paging in two index ranges (the rest of the cursor's tie group, then the XP values
    beyond it) rather than one row comparison: PostgreSQL cannot start an index scan at a row
    comparison when the board's own `xp > 0` bound sits on the same column, and a big tie group
    (thousands of members at 20 XP) would then be read row by row."""
    if after is None and before is None:
        relation, args = board.relation(2)
        rows = await conn.fetch(
            f"""SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
                WHERE u.in_server ORDER BY b.xp DESC, b.user_id DESC LIMIT $1""",
            limit,
            *args,
        )
        return [BoardRow(**dict(r)) for r in rows]
    relation, args = board.relation(4)
    forward = before is not None
    xp, user_id = before if forward else after  # type: ignore[misc]
    order = "ASC" if forward else "DESC"
    same, beyond = (">", ">") if forward else ("<", "<")
    rows = await conn.fetch(
        f"""
        SELECT * FROM (
          (SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
            WHERE u.in_server AND b.xp = $1 AND b.user_id {same} $2
            ORDER BY b.user_id {order} LIMIT $3)
          UNION ALL
          (SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
            WHERE u.in_server AND b.xp {beyond} $1
            ORDER BY b.xp {order}, b.user_id {order} LIMIT $3)
        ) p
        ORDER BY p.xp {order}, p.user_id {order}
        LIMIT $3
        """,
        xp,
        user_id,
        limit,
        *args,
    )
    result = [BoardRow(**dict(r)) for r in rows]
    return result[::-1] if forward else result


# Rows read beyond what a window shows, per range, so that members who left the server (filtered
# out after the read) rarely leave a gap; when they do, window() falls back to the joined ranges.
_WINDOW_SLACK = 5


def _enough(parts: list[tuple[int, int]], need: int, limit: int) -> bool:
    """Whether `need` in-server rows are surely among those read: parts are (rows read, rows in the
    server) of one side's ranges, nearest first; a range read to its limit may hold more beyond."""
    have = 0
    for read, present in parts:
        have += present
        if have >= need:
            return True
        if read >= limit:
            return False
    return True


async def window(conn: Executor, board: Board, user_id: str, *, above: int, below: int) -> list[BoardRow]:
    """The member's row with up to `above` rows before it and `below` after it; empty when the member
    is not on the board. board_window() (migration 022) reads four index ranges around the member's
    XP (the ties after them, higher XP; the ties before them, lower XP) with generic plans cached
    per session, and the names of the few rows read: the bot plans its statements afresh, and
    planning this one was most of its cost (p99 at 1M members 6.5-8.7 ms before;
    benchmarks/leaderboard.py)."""
    up_to, down_to = above + _WINDOW_SLACK, below + _WINDOW_SLACK
    rows = await conn.fetch(
        "SELECT * FROM board_window($1, $2, $3, $4, $5, $6) ORDER BY xp DESC, user_id DESC",
        board.period,
        board.start,
        board.pathway,
        user_id,
        up_to,
        down_to,
    )
    read = {part: 0 for part in range(5)}
    present = {part: 0 for part in range(5)}
    for r in rows:
        read[r["part"]] += 1
        present[r["part"]] += r["in_server"]
    if not present[0]:
        return []  # not on the board, or not in the server
    if not _enough([(read[1], present[1]), (read[2], present[2])], above, up_to) or not _enough(
        [(read[3], present[3]), (read[4], present[4])], below, down_to
    ):
        return await _window_joined(conn, board, user_id, above=above, below=below)
    shown = [
        BoardRow(r["user_id"], r["discord_id"], r["username"], r["display_name"], r["xp"])
        for r in rows
        if r["in_server"]
    ]
    index = next(i for i, r in enumerate(shown) if r.user_id == user_id)
    return shown[max(0, index - above) : index + 1 + below]


async def _window_joined(conn: Executor, board: Board, user_id: str, *, above: int, below: int) -> list[BoardRow]:
    """window() when members who left crowd the rows read: every range joined and filtered as it
    is read (exact whatever the gaps, slower to plan)."""
    me = await member_row(conn, board, user_id)
    if me is None:
        return []
    relation, args = board.relation(5)
    rows = await conn.fetch(
        f"""
        SELECT * FROM (
          (SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
            WHERE u.in_server AND b.xp = $2 AND b.user_id > $1 ORDER BY b.user_id ASC LIMIT $3)
          UNION ALL
          (SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
            WHERE u.in_server AND b.xp > $2 ORDER BY b.xp ASC, b.user_id ASC LIMIT $3)
          UNION ALL
          (SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
            WHERE u.in_server AND b.xp = $2 AND b.user_id < $1 ORDER BY b.user_id DESC LIMIT $4)
          UNION ALL
          (SELECT {_PAGE_COLUMNS} FROM ({relation}) b {_PAGE_JOIN}
            WHERE u.in_server AND b.xp < $2 ORDER BY b.xp DESC, b.user_id DESC LIMIT $4)
        ) w
        ORDER BY w.xp DESC, w.user_id DESC
        """,
        user_id,
        me.xp,
        above,
        below,
        *args,
    )
    others = [BoardRow(**dict(r)) for r in rows]
    before = [r for r in others if (r.xp, r.user_id) > (me.xp, me.user_id)][-above:] if above else []
    after = [r for r in others if (r.xp, r.user_id) < (me.xp, me.user_id)][:below]
    return [*before, me, *after]


async def member_row(conn: Executor, board: Board, user_id: str) -> BoardRow | None:
    """The member's row on the board, if they are in the server and have XP on it."""
    relation, args = board.relation(2)
    row = await conn.fetchrow(
        f"""
        SELECT b.user_id, u.discord_id, u.username, up.display_name, b.xp
        FROM ({relation}) b JOIN users u ON u.id = b.user_id JOIN user_profiles up ON up.user_id = b.user_id
        WHERE b.user_id = $1 AND u.in_server
        """,
        user_id,
        *args,
    )
    return BoardRow(**dict(row)) if row else None


async def member_xp(conn: Executor, board: Board, user_id: str) -> int:
    relation, args = board.relation(2)
    return await conn.fetchval(
        f"SELECT COALESCE((SELECT xp FROM ({relation}) b WHERE b.user_id = $1), 0)", user_id, *args
    )


async def count_above(conn: Executor, board: Board, xp: int) -> int:
    """Members in the server with more XP (the slow way: for checks and benchmarks)."""
    relation, args = board.relation(2)
    return await conn.fetchval(
        f"SELECT count(*) FROM ({relation}) b JOIN users u ON u.id = b.user_id WHERE u.in_server AND b.xp > $1",
        xp,
        *args,
    )


async def histogram(conn: Executor, board: Board) -> list[tuple[int, int]]:
    """(xp, members) for every XP value on the board, members in the server only."""
    relation, args = board.relation(1)
    rows = await conn.fetch(
        f"SELECT b.xp, count(*) AS n FROM ({relation}) b JOIN users u ON u.id = b.user_id "
        f"WHERE u.in_server GROUP BY b.xp",
        *args,
    )
    return [(r["xp"], r["n"]) for r in rows]


async def member_boards(conn: Executor, user_id: str, week_start: date, month_start: date) -> dict[tuple, int]:
    """Every board XP of one member: {(period, start, board): xp}."""
    result: dict[tuple, int] = {}
    total = await conn.fetchval("SELECT total_xp FROM user_profiles WHERE user_id = $1", user_id)
    result[("all", None, "")] = total or 0
    for r in await conn.fetch("SELECT pathway_id, total_xp FROM pathway_progress WHERE user_id = $1", user_id):
        result[("all", None, r["pathway_id"])] = r["total_xp"]
    rows = await conn.fetch(
        """SELECT period, period_start, pathway, xp FROM xp_period_totals
           WHERE user_id = $1
             AND ((period = 'week' AND period_start = $2) OR (period = 'month' AND period_start = $3))""",
        user_id,
        week_start,
        month_start,
    )
    for r in rows:
        result[(r["period"], r["period_start"], r["pathway"])] = r["xp"]
    return result


Fingerprint = tuple[int, int]  # members with XP in the server, sum of their XP


async def fingerprints(conn: Executor, week_start: date, month_start: date) -> dict[tuple, Fingerprint]:
    """Every board's fingerprint, {(period, start, board): (members, sum of XP)}, from board_totals
    (kept by triggers, migration 022): what the in-memory rank index must agree with, in one read of
    a few rows instead of scans of every member."""
    rows = await conn.fetch(
        """SELECT period, period_start, board, members, xp_sum FROM board_totals
           WHERE period = 'all' OR (period = 'week' AND period_start = $1)
              OR (period = 'month' AND period_start = $2)""",
        week_start,
        month_start,
    )
    return {
        (r["period"], None if r["period"] == "all" else r["period_start"], r["board"]): (r["members"], r["xp_sum"])
        for r in rows
        if r["members"] or r["xp_sum"]
    }


async def counted_fingerprints(conn: Executor, week_start: date, month_start: date) -> dict[tuple, Fingerprint]:
    """The same fingerprints counted from the tables (three scans: seconds at 1M members)."""
    result: dict[tuple, Fingerprint] = {}
    agg = "count(*)::bigint AS n, COALESCE(sum(b.xp), 0)::bigint AS s"
    row = await conn.fetchrow(
        f"""SELECT {agg} FROM (SELECT user_id, total_xp AS xp FROM user_profiles WHERE total_xp > 0) b
            JOIN users u ON u.id = b.user_id WHERE u.in_server"""
    )
    if row["n"]:
        result[("all", None, "")] = (row["n"], row["s"])
    for r in await conn.fetch(
        f"""SELECT b.pathway_id AS board, {agg}
            FROM (SELECT user_id, pathway_id, total_xp AS xp FROM pathway_progress WHERE total_xp > 0) b
            JOIN users u ON u.id = b.user_id WHERE u.in_server GROUP BY b.pathway_id"""
    ):
        result[("all", None, r["board"])] = (r["n"], r["s"])
    for r in await conn.fetch(
        f"""SELECT b.period, b.period_start, b.pathway AS board, {agg} FROM xp_period_totals b
            JOIN users u ON u.id = b.user_id
            WHERE u.in_server AND b.xp > 0
              AND ((b.period = 'week' AND b.period_start = $1) OR (b.period = 'month' AND b.period_start = $2))
            GROUP BY b.period, b.period_start, b.pathway""",
        week_start,
        month_start,
    ):
        result[(r["period"], r["period_start"], r["board"])] = (r["n"], r["s"])
    return result


async def counts_differ(conn: asyncpg.Connection, week_start: date, month_start: date) -> list[tuple]:
    """Boards whose board_totals differ from the tables (triggers bypassed: disabled, or a replica
    session), both read in one snapshot so that concurrent writes never look like drift."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        kept = await fingerprints(conn, week_start, month_start)
        counted = await counted_fingerprints(conn, week_start, month_start)
    return sorted((k for k in kept.keys() | counted.keys() if kept.get(k) != counted.get(k)), key=repr)


async def rebuild_counts(conn: Executor) -> None:
    """Recompute every board count from the tables (board_counts_rebuild(); XP writes wait meanwhile)."""
    await conn.execute("SELECT board_counts_rebuild()", timeout=600)

"""What the public reads (migration 022): the website's boards as anon, each rank and page against a
brute-force order, the counts behind them after every kind of write, and nothing private readable."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import UTC, date, datetime

import asyncpg
import pytest

from db import boards, ledger, notifications, privacy, users, xp
from tests.factories import make_member, snowflake

ANON = {"role": "anon"}
PATHWAYS = ("gaming", "lorebound")


async def as_anon(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """A request the way PostgREST makes it for a visitor who is not signed in."""
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE anon")
        await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", json.dumps(ANON))
        return await conn.fetch(sql, *args)


async def set_private(conn: asyncpg.Connection, user_id: str, private: bool = True) -> None:
    await conn.execute(
        "UPDATE user_profiles SET preferences = preferences || jsonb_build_object('public_profile', $2::boolean) "
        "WHERE user_id = $1",
        user_id,
        not private,
    )


async def community(conn: asyncpg.Connection, n: int = 48, seed: int = 7) -> list[str]:
    """Members with many ties (global and pathway), some who left, some private, some with no XP."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        member = await make_member(conn, f"m{i:02d}", in_server=i % 11 != 5, pathways=PATHWAYS)
        amount = rng.choice([0, 20, 20, 20, 40, 100, 100, 250, 900, 5000, 70_000])
        if amount:
            await xp.award_xp(conn, member, PATHWAYS[i % 2] if i % 3 else None, amount)
        if i % 4 == 0:
            await xp.award_xp(conn, member, "gaming", rng.choice([20, 20, 60]))
        if i % 7 == 3:
            await set_private(conn, member)
        ids.append(member)
    return ids


async def listed(conn: asyncpg.Connection, pathway: str | None = None) -> list[tuple]:
    """The public board by brute force: members in the server with public profiles, the guide's
    RANK() and DENSE_RANK() over them, in the board's order (most XP, then user id descending)."""
    if pathway is None:
        return [
            tuple(r)
            for r in await conn.fetch(
                """SELECT up.user_id, up.total_xp, RANK() OVER (ORDER BY up.total_xp DESC),
                          DENSE_RANK() OVER (ORDER BY up.level DESC)
                   FROM user_profiles up JOIN users u ON u.id = up.user_id
                   WHERE u.in_server AND COALESCE((up.preferences ->> 'public_profile')::boolean, true)
                   ORDER BY up.total_xp DESC, up.user_id DESC"""
            )
        ]
    return [
        tuple(r)
        for r in await conn.fetch(
            """SELECT pp.user_id, pp.total_xp, RANK() OVER (ORDER BY pp.total_xp DESC)
               FROM pathway_progress pp JOIN users u ON u.id = pp.user_id JOIN user_profiles up ON up.user_id = pp.user_id
               WHERE pp.pathway_id = $1 AND u.in_server AND COALESCE((up.preferences ->> 'public_profile')::boolean, true)
               ORDER BY pp.total_xp DESC, pp.user_id DESC""",
            pathway,
        )
    ]


async def counts(conn: asyncpg.Connection) -> dict[str, list[tuple]]:
    return {
        table: sorted(tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} WHERE {nonzero}"))
        for table, nonzero in (
            ("board_xp_counts", "listed <> 0"),
            ("board_level_counts", "listed <> 0"),
            ("board_totals", "members <> 0 OR xp_sum <> 0"),
        )
    }


async def assert_counts_exact(conn: asyncpg.Connection) -> None:
    """The trigger-kept counts equal a recount from the tables (rolled back: the test's state stays)."""
    kept = await counts(conn)
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute("SELECT board_counts_rebuild()")
        assert await counts(conn) == kept
    finally:
        await tr.rollback()


async def test_anon_reads_the_public_boards_in_rank_order_with_the_guides_ranks(conn):
    await community(conn)
    board = await as_anon(conn, "SELECT * FROM user_leaderboard")
    assert list(board[0].keys()) == [
        "id",
        "discord_id",
        "username",
        "avatar",
        "display_name",
        "total_xp",
        "level",
        "message_count",
        "events_attended",
        "tournaments_won",
        "rank",
        "level_rank",
    ]
    truth = await listed(conn)
    assert [(r["id"], r["total_xp"], r["rank"], r["level_rank"]) for r in board] == truth
    assert any(a[1] == b[1] for a, b in itertools.pairwise(truth)), "the community has ties"
    assert truth[-1][1] == 0, "members with no XP are listed, ranked last"
    for pathway in PATHWAYS:
        rows = await as_anon(conn, "SELECT * FROM pathway_leaderboard WHERE pathway_id = $1", pathway)
        assert [(r["user_id"], r["total_xp"], r["rank"]) for r in rows] == await listed(conn, pathway)
    everyone = await conn.fetch("SELECT id, in_server FROM users")
    private = {
        r["user_id"]
        for r in await conn.fetch("SELECT user_id FROM user_profiles WHERE NOT profile_is_public(preferences)")
    }
    shown = {r["id"] for r in board}
    assert private and not shown & private
    assert not shown & {r["id"] for r in everyone if not r["in_server"]}


async def test_pages_after_any_row_walk_each_board_exactly_and_positions_match(conn):
    await community(conn, n=60, seed=3)
    for pathway in (None, *PATHWAYS):
        truth = await listed(conn, pathway)
        walked, cursor = [], None
        while True:
            if pathway is None:
                rows = await as_anon(conn, "SELECT * FROM user_leaderboard_page($1, $2, 7)", *(cursor or (None, None)))
                page = [(r["id"], r["total_xp"], r["rank"], r["level_rank"]) for r in rows]
            else:
                rows = await as_anon(
                    conn, "SELECT * FROM pathway_leaderboard_page($1, $2, $3, 7)", pathway, *(cursor or (None, None))
                )
                page = [(r["user_id"], r["total_xp"], r["rank"]) for r in rows]
            if not page:
                break
            walked.extend(page)
            cursor = (page[-1][1], page[-1][0])
        assert walked == truth, pathway
        for member, _, rank, *_ in truth:
            (row,) = await as_anon(conn, "SELECT member_position($1, $2) AS rank", member, pathway)
            assert row["rank"] == rank
    outsiders = await conn.fetch(
        "SELECT u.id FROM users u JOIN user_profiles up ON up.user_id = u.id "
        "WHERE NOT u.in_server OR NOT profile_is_public(up.preferences)"
    )
    for r in outsiders:
        assert (await as_anon(conn, "SELECT member_position($1) AS rank", r["id"]))[0]["rank"] is None
    assert (await as_anon(conn, "SELECT member_position('user_nobody') AS rank"))[0]["rank"] is None
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await as_anon(conn, "SELECT * FROM user_leaderboard_page(NULL, NULL, 5000)")


async def test_a_page_of_any_size_after_any_row_or_xp_is_the_boards_next_rows_with_their_ranks(conn):
    """A page ranks each XP value (and level) of its rows once (migration 031): whatever the page size and
    wherever it starts (inside a tie group bigger than the page, at its end, after an XP alone, at zero
    or below), it holds exactly the board's next rows with the ranks the view gives them."""
    await community(conn, n=40, seed=11)
    for pathway in (None, "gaming"):
        truth = await listed(conn, pathway)
        if pathway is None:
            sql = "SELECT id, total_xp, rank, level_rank FROM user_leaderboard_page($1, $2, $3)"
        else:
            sql = "SELECT user_id, total_xp, rank FROM pathway_leaderboard_page('gaming', $1, $2, $3)"
        starts = [(None, None, truth), *((xp, member, truth[i + 1 :]) for i, (member, xp, *_) in enumerate(truth))]
        starts += [(xp, None, [r for r in truth if r[1] < xp]) for xp in [*sorted({r[1] for r in truth}), -5]]
        for after_xp, after_id, rest in starts:
            for size in (1, 2, 3, 5, 8, 13, 40):
                page = [tuple(r) for r in await as_anon(conn, sql, after_xp, after_id, size)]
                assert page == rest[:size], (pathway, after_xp, after_id, size)


async def test_the_counts_follow_every_kind_of_write(conn):
    ids = await community(conn)
    await assert_counts_exact(conn)
    alice, bob, carol, dan = ids[0], ids[1], ids[2], ids[3]
    steps = [
        ("award_xp, global and pathway", lambda: xp.award_xp(conn, alice, "gaming", 333)),
        ("XP taken away", lambda: xp.award_xp(conn, bob, None, -15)),
        ("a private profile", lambda: set_private(conn, carol)),
        ("public again", lambda: set_private(conn, carol, False)),
        ("a level edited by hand", lambda: conn.execute("UPDATE user_profiles SET level = 40 WHERE user_id = $1", bob)),
        ("left the server", lambda: _leave(conn, dan)),
        ("XP while away", lambda: xp.award_xp(conn, dan, "gaming", 50)),
        ("came back", lambda: conn.execute("UPDATE users SET in_server = true WHERE id = $1", dan)),
        ("a pathway row deleted", lambda: conn.execute("DELETE FROM pathway_progress WHERE user_id = $1", alice)),
        (
            "a pathway row moved by hand",
            lambda: conn.execute("UPDATE pathway_progress SET total_xp = total_xp + 7 WHERE user_id = $1", bob),
        ),
        ("erased (/mydata)", lambda: privacy.erase(conn, carol)),
        ("a member deleted", lambda: conn.execute("DELETE FROM users WHERE id = $1", ids[4])),
        (
            "a profile inserted with XP",
            lambda: _profile_with_xp(conn),
        ),
        (
            "a week's totals edited",
            lambda: conn.execute("UPDATE xp_period_totals SET xp = xp + 1 WHERE user_id = $1", ids[6]),
        ),
        ("a week's totals deleted", lambda: conn.execute("DELETE FROM xp_period_totals WHERE user_id = $1", ids[7])),
        ("the bot's flush", lambda: _flush(conn, ids[8:20])),
        ("everyone leaves", lambda: conn.execute("UPDATE users SET in_server = false")),
        (
            "everyone returns",
            lambda: conn.execute("UPDATE users SET in_server = true WHERE discord_id NOT LIKE 'erased:%'"),
        ),
    ]
    for name, step in steps:
        await step()
        try:
            await assert_counts_exact(conn)
        except AssertionError as error:
            raise AssertionError(f"after {name}") from error
    board = await as_anon(conn, "SELECT id, total_xp, rank, level_rank FROM user_leaderboard")
    assert [tuple(r) for r in board] == await listed(conn)
    await conn.execute("TRUNCATE pathway_progress")
    await assert_counts_exact(conn)


async def _leave(conn: asyncpg.Connection, user_id: str) -> None:
    discord_id = await conn.fetchval("SELECT discord_id FROM users WHERE id = $1", user_id)
    assert await users.mark_left(conn, discord_id) == user_id


async def _profile_with_xp(conn: asyncpg.Connection) -> None:
    member = await make_member(conn, "restored")
    await conn.execute("DELETE FROM user_profiles WHERE user_id = $1", member)
    await conn.execute("INSERT INTO pathway_progress (user_id, pathway_id, total_xp) VALUES ($1, 'news', 80)", member)
    await conn.execute("INSERT INTO user_profiles (user_id, total_xp, level) VALUES ($1, 1234, 4)", member)


async def _flush(conn: asyncpg.Connection, members: list[str]) -> None:
    now = datetime.now(UTC)
    week, month = date(2026, 11, 30), date(2026, 11, 1)
    grants = [
        ledger.Grant(m, "message", snowflake(), "gaming" if i % 2 else None, 20 + i, now, now.date(), week, month)
        for i, m in enumerate(members)
    ]
    async with conn.transaction():
        await ledger.apply_grants(conn, grants)


async def test_concurrent_writers_keep_the_counts_exact(pool):
    members = [await make_member(pool, f"c{i}", pathways=("gaming", "news")) for i in range(12)]

    async def writer(k: int) -> None:
        rng = random.Random(k)
        for _ in range(15):
            member = rng.choice(members)
            await pool.execute(
                "SELECT award_xp($1, $2, $3)", member, rng.choice([None, "gaming", "news"]), rng.randint(1, 90)
            )

    await asyncio.gather(*(writer(k) for k in range(6)))
    async with pool.acquire() as conn:
        await assert_counts_exact(conn)
        assert [
            tuple(r) for r in await as_anon(conn, "SELECT id, total_xp, rank, level_rank FROM user_leaderboard")
        ] == (await listed(conn))


async def test_anon_reads_nothing_private(conn):
    member = await make_member(conn, "alice", roles=("123",), pathways=("gaming",))
    await conn.execute("UPDATE users SET email = 'alice@example.com' WHERE id = $1", member)
    await xp.award_xp(conn, member, "gaming", 100)
    await notifications.notify(conn, member, "your secret")
    await conn.execute(
        "INSERT INTO moderation_logs (moderator_id, target_user_id, action) VALUES ($1, $1, 'warn')", member
    )
    views = {
        r["table_name"]: {c for c in r["columns"]}
        for r in await conn.fetch(
            """SELECT table_name, array_agg(column_name::text) AS columns FROM information_schema.columns
               WHERE table_schema = 'public' AND table_name IN ('user_leaderboard', 'pathway_leaderboard')
               GROUP BY table_name"""
        )
    }
    for columns in views.values():
        assert not columns & {"email", "roles", "permissions", "preferences", "bio", "ban_reason"}
    assert (await as_anon(conn, "SELECT * FROM user_leaderboard"))[0]["id"] == member
    for sql in (
        "SELECT email FROM users",
        "SELECT roles FROM users",
        "SELECT * FROM notifications",
        "SELECT * FROM moderation_logs",
    ):
        assert await as_anon(conn, sql) == [], sql
    for table in (
        "xp_ledger",
        "admin_logs",
        "moderation_case_revisions",
        "dead_letters",
        "outbox",
        "moderation_sanctions",
        "board_xp_counts",
        "board_level_counts",
        "board_totals",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_anon(conn, f"SELECT * FROM {table}")
    for sql in ("SELECT board_counts_rebuild()", "SELECT * FROM board_window('all', NULL, '', $1, 5, 5)"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_anon(conn, sql, *((member,) if "$1" in sql else ()))


async def test_anon_lists_listed_events_not_drafts(conn):
    host = await make_member(conn, "host")
    await conn.execute(
        """INSERT INTO events (title, type, start_date, host_id, status) VALUES
           ('game night', 'Meetup', NOW() + interval '1 day', $1, 'upcoming'),
           ('secret plan', 'Meetup', NOW() + interval '2 day', $1, 'draft'),
           ('hidden', 'Meetup', NOW() + interval '2 day', $1, 'upcoming')""",
        host,
    )
    await conn.execute("UPDATE events SET is_active = false WHERE title = 'hidden'")
    rows = await as_anon(conn, "SELECT title, computed_status FROM active_events")
    assert [tuple(r) for r in rows] == [("game night", "upcoming")]


async def test_the_bots_check_reads_kept_totals_and_a_bypassed_trigger_is_found_and_repaired(conn):
    await community(conn)
    week, month = date(2026, 11, 30), date(2026, 11, 1)
    await _flush(conn, [r["id"] for r in await conn.fetch("SELECT id FROM users WHERE in_server LIMIT 10")])
    assert await boards.fingerprints(conn, week, month) == await boards.counted_fingerprints(conn, week, month)
    assert await boards.counts_differ(conn, week, month) == []
    await conn.execute("ALTER TABLE user_profiles DISABLE TRIGGER board_counts_profiles_update")
    await conn.execute("UPDATE user_profiles SET total_xp = total_xp + 1 WHERE total_xp > 0")
    await conn.execute("ALTER TABLE user_profiles ENABLE TRIGGER board_counts_profiles_update")
    assert await boards.counts_differ(conn, week, month) == [("all", None, "")]
    await boards.rebuild_counts(conn)
    assert await boards.counts_differ(conn, week, month) == []
    assert [tuple(r) for r in await as_anon(conn, "SELECT id, total_xp, rank, level_rank FROM user_leaderboard")] == (
        await listed(conn)
    )

"""Leaderboard queries against a brute-force ordering, ties and members who left included."""

from __future__ import annotations

import random

from db import boards, users, xp
from tests.factories import make_member


async def seed(conn, n=60):
    rng = random.Random(4)
    expected = []
    for i in range(n):
        in_server = i % 9 != 0
        user_id = await make_member(conn, f"m{i}", in_server=in_server)
        amount = rng.choice([0, 20, 20, 20, 40, 100, 250, 900])  # many ties
        if amount:
            await xp.award_xp(conn, user_id, None, amount)
        if in_server and amount:
            expected.append((amount, user_id))
    expected.sort(reverse=True)  # xp desc, then user id desc: the board's order
    return expected


async def test_pages_walk_the_whole_board_in_order_both_ways(conn):
    expected = await seed(conn)
    board = boards.Board("all", None, "")
    walked, cursor = [], None
    while True:
        rows = await boards.page(conn, board, after=cursor, limit=7)
        if not rows:
            break
        walked.extend((r.xp, r.user_id) for r in rows)
        cursor = (rows[-1].xp, rows[-1].user_id)
    assert walked == expected
    back, cursor = [], (expected[-1][0], expected[-1][1])
    back.append(cursor)
    while True:
        rows = await boards.page(conn, board, before=cursor, limit=5)
        if not rows:
            break
        back[:0] = [(r.xp, r.user_id) for r in rows]
        cursor = (rows[0].xp, rows[0].user_id)
    assert back == expected


async def test_the_window_around_a_member_matches_the_full_order(conn):
    expected = await seed(conn)
    board = boards.Board("all", None, "")
    for index in (0, 1, 7, len(expected) // 2, len(expected) - 2, len(expected) - 1):
        user_id = expected[index][1]
        rows = await boards.window(conn, board, user_id, above=4, below=5)
        assert [(r.xp, r.user_id) for r in rows] == expected[max(0, index - 4) : index + 6]
    gone = await conn.fetchval("SELECT id FROM users WHERE NOT in_server LIMIT 1")
    assert await boards.window(conn, board, gone, above=4, below=5) == []


async def test_histogram_and_count_above_agree(conn):
    expected = await seed(conn)
    board = boards.Board("all", None, "")
    histogram = dict(await boards.histogram(conn, board))
    assert sum(histogram.values()) == len(expected)
    for value in {x for x, _ in expected}:
        assert await boards.count_above(conn, board, value) == sum(1 for x, _ in expected if x > value)
    profile = await users.get_profile(conn, expected[0][1])
    assert await boards.member_xp(conn, board, profile.user_id) == expected[0][0]


async def test_the_window_is_exact_when_members_who_left_crowd_it(conn, monkeypatch):
    """Many who left between a member and their neighbours: more than the rows read beyond the
    window, so the exact (joined) ranges must take over."""
    exact = boards._window_joined
    fallbacks = []

    async def counted(*args, **kwargs):
        fallbacks.append(args[2])
        return await exact(*args, **kwargs)

    monkeypatch.setattr(boards, "_window_joined", counted)
    expected = []
    for i in range(70):
        in_server = not (20 <= i < 40) and i % 4 != 0  # a block of 20 who left, and every fourth
        user_id = await make_member(conn, f"c{i:02d}", in_server=in_server)
        amount = 20 if i < 50 else 20 + i  # one big tie group around the block
        await xp.award_xp(conn, user_id, None, amount)
        if in_server:
            expected.append((amount, user_id))
    expected.sort(reverse=True)
    board = boards.Board("all", None, "")
    for index in range(len(expected)):
        rows = await boards.window(conn, board, expected[index][1], above=4, below=5)
        assert [(r.xp, r.user_id) for r in rows] == expected[max(0, index - 4) : index + 6]
    assert fallbacks  # the crowded windows did take the exact path

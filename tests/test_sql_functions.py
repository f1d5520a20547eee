"""The schema's functions and triggers, and the typed query layer over them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.rules.progression import level_for_xp, level_start_xp, progress_for
from db import achievements, leaderboards, notifications, users, xp
from tests.factories import make_member, snowflake


async def test_inserting_a_user_creates_its_profile(conn):
    user_id = await users.upsert_member(
        conn, users.MemberSnapshot(discord_id=snowflake(), username="alice", global_name="Alice")
    )
    profile = await users.get_profile(conn, user_id)
    assert profile is not None
    assert (profile.display_name, profile.level, profile.total_xp) == ("Alice", 1, 0)
    assert user_id.startswith("user_")


async def test_users_inserted_together_get_their_profiles_in_one_go(conn):
    # the import and the member sync insert thousands of users a statement: one trigger call for them all
    await conn.execute("SET track_functions = 'all'")
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO users (discord_id, username, global_name) SELECT d, 'user' || i, NULLIF('Name ' || i, 'Name 2')"
            " FROM unnest($1::text[]) WITH ORDINALITY AS t(d, i)",
            [snowflake() for _ in range(3)],
        )
        calls = await conn.fetchval(
            "SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'create_user_profile'"
        )
        await conn.execute("INSERT INTO users (discord_id, username) SELECT $1, 'nobody' WHERE false", snowflake())
        names = await conn.fetch(
            "SELECT up.display_name, up.level, up.total_xp FROM users u JOIN user_profiles up ON up.user_id = u.id"
            " ORDER BY u.username"
        )
    assert calls == 1
    assert [tuple(r) for r in names] == [("Name 1", 1, 0), ("user2", 1, 0), ("Name 3", 1, 0)]


async def test_upsert_by_discord_id_returns_the_same_user_and_refreshes_it(conn):
    discord_id = snowflake()
    first = await users.upsert_member(conn, users.MemberSnapshot(discord_id=discord_id, username="bob"))
    second = await users.upsert_member(
        conn, users.MemberSnapshot(discord_id=discord_id, username="bobby", roles=("1", "2"))
    )
    assert first == second
    profile = await users.get_profile_by_discord_id(conn, discord_id)
    assert profile.username == "bobby"
    assert await conn.fetchval("SELECT roles FROM users WHERE id = $1", first) == ["1", "2"]
    assert await conn.fetchval("SELECT count(*) FROM users") == 1


async def test_bulk_upsert_maps_every_member(conn):
    snaps = [users.MemberSnapshot(discord_id=snowflake(), username=f"m{i}") for i in range(50)]
    mapping = await users.upsert_members(conn, snaps)
    assert set(mapping) == {s.discord_id for s in snaps}
    assert await conn.fetchval("SELECT count(*) FROM user_profiles") == 50


async def test_award_achievement_twice_grants_the_xp_once(conn):
    user = await make_member(conn)
    assert await achievements.award_achievement(conn, user, "first-week") is True
    assert await achievements.award_achievement(conn, user, "first-week") is False
    profile = await users.get_profile(conn, user)
    assert profile.total_xp == 100
    assert profile.level == 2
    assert profile.achievements == ["first-week"]
    row = await conn.fetchrow("SELECT total_earned, first_earned_by FROM achievements WHERE id = 'first-week'")
    assert (row["total_earned"], row["first_earned_by"]) == (1, user)


async def test_a_pathway_achievements_xp_counts_in_its_pathway_too(conn):
    user = await make_member(conn)
    await xp.join_pathway(conn, user, "gaming")
    assert await achievements.award_achievement(conn, user, "gaming-initiate") is True
    ledger = await conn.fetchrow("SELECT pathway, amount FROM xp_ledger WHERE source = 'achievement'")
    assert (ledger["pathway"], ledger["amount"]) == ("gaming", 50)
    gaming = await conn.fetchval(
        "SELECT total_xp FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'", user
    )
    boards = await conn.fetch("SELECT period, pathway, xp FROM xp_period_totals WHERE user_id = $1", user)
    assert gaming == 50 and (await users.get_profile(conn, user)).total_xp == 50
    assert sorted((b["period"], b["pathway"], b["xp"]) for b in boards) == [
        ("month", "", 50),
        ("month", "gaming", 50),
        ("week", "", 50),
        ("week", "gaming", 50),
    ]


async def test_a_pathway_achievement_from_sql_counts_globally_for_a_member_outside_its_pathway(conn):
    user = await make_member(conn)
    assert await achievements.award_achievement(conn, user, "gaming-initiate") is True
    ledger = await conn.fetchrow("SELECT pathway, amount FROM xp_ledger WHERE source = 'achievement'")
    assert (ledger["pathway"], ledger["amount"]) == (None, 50)
    assert (await users.get_profile(conn, user)).total_xp == 50
    assert await xp.pathway_progress(conn, user) == []  # no Gaming level, no Gaming board
    boards = await conn.fetch("SELECT period, pathway, xp FROM xp_period_totals WHERE user_id = $1", user)
    assert sorted((b["period"], b["pathway"], b["xp"]) for b in boards) == [("month", "", 50), ("week", "", 50)]


async def test_award_xp_refuses_pathway_xp_to_a_member_outside_the_pathway_with_the_reason(conn):
    user = await make_member(conn)
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await xp.award_xp(conn, user, "gaming", 120)
    assert "has not joined pathway gaming, and pathway XP goes to its members only" in str(refused.value)
    assert refused.value.hint == "Award it without the pathway (NULL), or once they have joined it."
    assert (await users.get_profile(conn, user)).total_xp == 0
    assert await conn.fetchval("SELECT count(*) FROM xp_ledger WHERE user_id = $1", user) == 0

    await xp.join_pathway(conn, user, "gaming")
    award = await xp.award_xp(conn, user, "gaming", 120)
    assert (award.user_total_xp, award.pathway_total_xp) == (120, 120)
    # Left since: what they earned there can still be taken back, nothing more can be given there.
    await conn.execute("UPDATE users SET pathways = '[]'::jsonb WHERE id = $1", user)
    taken = await xp.award_xp(conn, user, "gaming", -20)
    assert (taken.user_total_xp, taken.pathway_total_xp) == (100, 100)
    with pytest.raises(asyncpg.CheckViolationError):
        await xp.award_xp(conn, user, "gaming", 5)
    assert (await xp.award_xp(conn, user, None, 5)).user_total_xp == 105


async def test_an_achievement_earned_again_after_a_revoke_grants_its_xp_again_from_sql(conn):
    user = await make_member(conn)
    assert await achievements.award_achievement(conn, user, "first-week") is True
    assert await achievements.revoke(conn, user, "first-week") is True
    await conn.execute(
        """INSERT INTO xp_ledger (user_id, source, source_ref, amount)
           VALUES ($1, 'reversal', 'achievement:first-week:1', -100)""",
        user,
    )
    await conn.execute("SELECT apply_xp($1, NULL, -100)", user)
    assert await achievements.award_achievement(conn, user, "first-week") is True
    refs = await conn.fetch("SELECT source_ref, amount FROM xp_ledger WHERE source = 'achievement' ORDER BY id")
    assert [(r["source_ref"], r["amount"]) for r in refs] == [("first-week", 100), ("first-week#2", 100)]
    assert (await users.get_profile(conn, user)).total_xp == 100


async def test_an_in_progress_achievement_completes_once(conn):
    first, second = await make_member(conn, "first"), await make_member(conn, "second")
    await achievements.award_achievement(conn, first, "news-contributor")
    await conn.execute(
        "INSERT INTO user_achievements (user_id, achievement_id, progress) VALUES ($1, 'news-contributor', 60)",
        second,
    )
    assert await achievements.earned_ids(conn, second) == set()
    assert await achievements.award_achievement(conn, second, "news-contributor") is True
    assert await achievements.award_achievement(conn, second, "news-contributor") is False
    assert (await users.get_profile(conn, second)).total_xp == 250
    row = await conn.fetchrow("SELECT total_earned, first_earned_by FROM achievements WHERE id = 'news-contributor'")
    assert (row["total_earned"], row["first_earned_by"]) == (2, first)


async def test_unknown_or_inactive_achievements_are_not_awarded(conn):
    user = await make_member(conn)
    assert await achievements.award_achievement(conn, user, "no-such-thing") is False
    await conn.execute("UPDATE achievements SET is_active = false WHERE id = 'grand-duke'")
    assert await achievements.award_achievement(conn, user, "grand-duke") is False
    assert (await users.get_profile(conn, user)).total_xp == 0


async def test_concurrent_awards_of_the_same_achievement_grant_once(pool):
    user = await make_member(pool)
    results = await asyncio.gather(*(achievements.award_achievement(pool, user, "tournament-winner") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert (await users.get_profile(pool, user)).total_xp == 1000


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.integers(min_value=-3000, max_value=20_000), min_size=1, max_size=8),
    pathway=st.sampled_from([None, "gaming", "lorebound", "productive", "news"]),
)
async def test_award_xp_agrees_with_the_progression_rules(conn, amounts, pathway):
    user = await make_member(conn)
    if pathway is not None:
        await xp.join_pathway(conn, user, pathway)
    total = 0
    for amount in amounts:
        before = progress_for(total)
        total = max(0, total + amount)
        after = progress_for(total)
        award = await xp.award_xp(conn, user, pathway, amount)
        assert (award.user_level_before, award.user_level_after) == (before.level, after.level)
        assert award.user_total_xp == total
        assert award.levelled_up == (after.level > before.level)
    profile = await users.get_profile(conn, user)
    assert (profile.total_xp, profile.level) == (total, progress_for(total).level)
    if pathway is not None:
        [progress] = await xp.pathway_progress(conn, user)
        expected = progress_for(total)
        assert (
            progress.total_xp,
            progress.level,
            progress.xp,
            progress.next_level_xp,
            progress.current_rank,
        ) == (
            expected.total_xp,
            expected.level,
            expected.xp,
            expected.next_level_xp,
            expected.rank,
        )


async def test_sql_level_functions_match_the_guide(conn):
    assert await conn.fetchval("SELECT calculate_level_from_xp(2500)") == 6
    assert await conn.fetchval("SELECT get_next_level_xp(5)") == 2500
    levels = await conn.fetch(
        "SELECT x, calculate_level_from_xp(x) AS l FROM unnest($1::int[]) AS x",
        [0, 99, 100, 399, 400, 899, 900, 40_000, 39_999],
    )
    assert [r["l"] for r in levels] == [1, 1, 2, 2, 3, 3, 4, 21, 20]


async def test_sql_levels_agree_with_the_rule_at_every_level_boundary(conn):
    # each level's first XP and the XP just before it, up to the largest INTEGER, and the extremes
    xps = [-(2**31), -1, 0, 1, 2**31 - 1]
    k = 1
    while 100 * k * k < 2**31:
        xps += [100 * k * k - 1, 100 * k * k]
        k += 1
    levels = await conn.fetchval(
        "SELECT array_agg(calculate_level_from_xp(x) ORDER BY i) FROM unnest($1::int[]) WITH ORDINALITY AS t(x, i)",
        xps,
    )
    assert levels == [level_for_xp(x) for x in xps]
    nexts = await conn.fetchval(
        "SELECT array_agg(get_next_level_xp(l) ORDER BY l) FROM generate_series(1, $1) l", k - 1
    )
    assert nexts == [level_start_xp(level + 1) for level in range(1, k)]
    assert await conn.fetchval("SELECT calculate_level_from_xp(NULL)") is None


async def test_the_level_maths_is_inlined_into_the_statements_that_use_it(conn):
    # a bulk write (the import's ledger statement, the chat flush) pays no function call per member
    plan = "\n".join(
        r[0]
        for r in await conn.fetch(
            "EXPLAIN (VERBOSE) SELECT calculate_level_from_xp(x + 1), get_next_level_xp(x) FROM unnest($1::int[]) x",
            [1, 2],
        )
    )
    assert "calculate_level_from_xp" not in plan
    assert "get_next_level_xp" not in plan
    assert "sqrt" in plan


async def test_rank_titles_follow_configuration(conn):
    await xp.sync_rank_titles(conn, {1: "Novice", 3: "Adept"})
    user = await make_member(conn)
    await xp.join_pathway(conn, user, "lorebound")
    await xp.award_xp(conn, user, "lorebound", 450)
    [progress] = await xp.pathway_progress(conn, user)
    assert (progress.level, progress.current_rank) == (3, "Adept")


async def test_joining_a_pathway_writes_everything_once(conn):
    user = await make_member(conn)
    assert await xp.join_pathway(conn, user, "news") is True
    assert await xp.join_pathway(conn, user, "gaming") is True
    assert await xp.join_pathway(conn, user, "news") is False
    row = await conn.fetchrow("SELECT pathways, pathway_join_dates, primary_pathway FROM users WHERE id = $1", user)
    assert row["pathways"] == ["news", "gaming"]
    assert set(row["pathway_join_dates"]) == {"news", "gaming"}
    assert row["primary_pathway"] == "news"
    assert [p.pathway_id for p in await xp.pathway_progress(conn, user)] == ["gaming", "news"]
    joins = await conn.fetch("SELECT pathway FROM analytics WHERE user_id = $1 AND event_type = 'pathway_join'", user)
    assert sorted(r["pathway"] for r in joins) == ["gaming", "news"]


async def test_activity_score_always_follows_the_formula(conn):
    user = await make_member(conn)
    await conn.execute(
        """UPDATE user_profiles SET message_count = 7, voice_minutes = 3, events_attended = 2, tournaments_won = 1
           WHERE user_id = $1""",
        user,
    )
    assert (await users.get_profile(conn, user)).activity_score == 7 + 2 * 3 + 10 * 2 + 50 * 1


async def test_views_return_the_documented_columns_and_ranks(conn):
    a, b, c = [await make_member(conn, n) for n in ("a", "b", "c")]
    gone = await make_member(conn, "gone", in_server=False)
    for user, amount in ((a, 500), (b, 900), (c, 500), (gone, 10_000)):
        await xp.join_pathway(conn, user, "gaming")
        await xp.award_xp(conn, user, "gaming", amount)
    board = await conn.fetch("SELECT * FROM user_leaderboard")
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
    assert [(r["username"], r["rank"], r["level_rank"]) for r in board][:1] == [("b", 1, 1)]
    assert sorted((r["username"], r["rank"], r["level_rank"]) for r in board[1:]) == [
        ("a", 2, 2),
        ("c", 2, 2),
    ]
    pboard = await conn.fetch("SELECT * FROM pathway_leaderboard WHERE pathway_id = 'gaming'")
    assert list(pboard[0].keys()) == [
        "pathway_id",
        "user_id",
        "discord_id",
        "username",
        "avatar",
        "display_name",
        "level",
        "xp",
        "total_xp",
        "current_rank",
        "rank",
    ]
    assert (pboard[0]["username"], pboard[0]["rank"]) == ("b", 1)
    assert "gone" not in {r["username"] for r in pboard}

    await conn.execute(
        "INSERT INTO events (title, type, start_date, participants) VALUES "
        "('soon', 'Meetup', NOW() + interval '1 day', '{x,y}'), "
        "('now', 'Stream', NOW() - interval '1 hour', '{}'), "
        "('done', 'Contest', NOW() - interval '2 day', '{}')"
    )
    await conn.execute("UPDATE events SET end_date = start_date + interval '1 hour' WHERE title = 'done'")
    events = {r["title"]: r for r in await conn.fetch("SELECT * FROM active_events")}
    assert {t: (r["computed_status"], r["participant_count"]) for t, r in events.items()} == {
        "soon": ("upcoming", 2),
        "now": ("ongoing", 0),
        "done": ("completed", 0),
    }

    await achievements.award_achievement(conn, a, "first-week")
    await achievements.award_achievement(conn, a, "grand-duke")
    summary = await conn.fetchrow("SELECT * FROM user_achievement_summary WHERE user_id = $1", a)
    assert (summary["total_achievements"], summary["common_count"], summary["mythic_count"]) == (2, 1, 1)


async def test_leaderboard_queries_page_and_rank(conn):
    ids = []
    for i in range(25):
        user = await make_member(conn, f"m{i:02d}")
        await xp.join_pathway(conn, user, "productive")
        await xp.award_xp(conn, user, "productive" if i % 2 else None, (i + 1) * 10)
        ids.append(user)
    await users.mark_left(conn, await conn.fetchval("SELECT discord_id FROM users WHERE id = $1", ids[24]))
    first = await leaderboards.top_members(conn, limit=10)
    assert [r.username for r in first][:3] == ["m23", "m22", "m21"]
    assert [r.position for r in first] == list(range(1, 11))
    second = await leaderboards.top_members(conn, limit=10, offset=10)
    assert second[0].position == 11 and second[0].username == "m13"
    assert await leaderboards.member_position(conn, ids[23]) == 1
    assert await leaderboards.member_position(conn, ids[24]) is None
    paths = await leaderboards.top_members(conn, pathway="productive", limit=3)
    assert [r.username for r in paths] == ["m23", "m21", "m19"]
    assert await leaderboards.member_position(conn, ids[19], pathway="productive") == 3


async def test_is_staff_and_has_role(conn):
    mod = await make_member(conn, "mod", roles=("1408079849377107989", "42"))
    member = await make_member(conn, "member", roles=("42",))
    assert await users.is_staff(conn, mod) is True
    assert await users.is_staff(conn, member) is False
    assert await users.is_staff(conn, "user_nobody") is False
    assert await users.has_role(conn, member, "42") is True
    assert await users.has_role(conn, member, "43") is False
    await users.sync_staff_roles(conn, ["42"])
    assert await users.is_staff(conn, member) is True
    assert await users.is_staff(conn, mod) is True  # holds 42 too
    await users.sync_staff_roles(conn, ["99"])
    assert await users.is_staff(conn, mod) is False


async def test_cleanup_expired_notifications(conn):
    user = await make_member(conn)
    await conn.execute(
        """INSERT INTO notifications (user_id, title, expires_at) VALUES
           ($1, 'old', NOW() - interval '1 minute'), ($1, 'older', NOW() - interval '1 day'),
           ($1, 'later', NOW() + interval '1 day'), ($1, 'forever', NULL)""",
        user,
    )
    assert await notifications.cleanup_expired(conn) == 2
    remaining = await conn.fetch("SELECT title FROM notifications ORDER BY title")
    assert [r["title"] for r in remaining] == ["forever", "later"]


async def test_check_rate_limit_windows(conn):
    assert [await conn.fetchval("SELECT check_rate_limit('k', 3, 1)") for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    await conn.execute("UPDATE rate_limits SET window_start = NOW() - interval '61 seconds' WHERE user_id = 'k'")
    assert await conn.fetchval("SELECT check_rate_limit('k', 3, 1)") is True
    assert await conn.fetchval("SELECT request_count FROM rate_limits WHERE user_id = 'k'") == 1
    assert await conn.fetchval("SELECT check_rate_limit('other', 1, 1)") is True
    assert await conn.fetchval("SELECT check_rate_limit('other', 1, 1)") is False


async def test_updated_at_triggers_stamp_updates(conn):
    user = await make_member(conn)
    await conn.execute("INSERT INTO pathway_progress (user_id, pathway_id) VALUES ($1, 'gaming')", user)
    event = await conn.fetchval(
        "INSERT INTO events (title, type, start_date) VALUES ('e', 'Meetup', NOW()) RETURNING id"
    )
    content = await conn.fetchval(
        "INSERT INTO content (type, title, slug, body) VALUES ('guide','t','s','b') RETURNING id"
    )
    old = datetime(2000, 1, 1, tzinfo=UTC)
    for table, key, value in (
        ("users", "id", user),
        ("user_profiles", "user_id", user),
        ("pathway_progress", "user_id", user),
        ("events", "id", event),
        ("content", "id", content),
    ):
        # A trigger stamps NOW() on every update, so an explicit old value cannot stick.
        await conn.execute(f"UPDATE {table} SET updated_at = $2::timestamptz WHERE {key} = $1", value, old)
        stamped = await conn.fetchval(
            f"SELECT updated_at > NOW() - interval '1 minute' FROM {table} WHERE {key} = $1", value
        )
        assert stamped is True, table


async def test_increment_view_count_and_full_text_search(conn):
    content = await conn.fetchval(
        "INSERT INTO content (type, title, slug, body, status) VALUES "
        "('guide', 'Speedrunning tips', 'speed', 'Routing and practice for faster gaming runs', 'published') RETURNING id"
    )
    await conn.execute("SELECT increment_view_count($1)", content)
    await conn.execute("SELECT increment_view_count($1)", content)
    assert await conn.fetchval("SELECT view_count FROM content WHERE id = $1", content) == 2
    found = await conn.fetchval(
        "SELECT id FROM content WHERE search_vector @@ plainto_tsquery('english', 'gaming run')"
    )
    assert found == content
    await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY pathway_stats_cache")


async def test_award_achievement_moves_the_week_and_month_boards_in_the_community_timezone(conn):
    user = await make_member(conn, "weekly")
    await xp.sync_timezone(conn, "Pacific/Kiritimati")  # UTC+14: often another day than UTC
    achievement = await conn.fetchval("SELECT id FROM achievements WHERE xp > 0 ORDER BY id LIMIT 1")
    amount = await conn.fetchval("SELECT xp FROM achievements WHERE id = $1", achievement)
    assert await conn.fetchval("SELECT award_achievement($1, $2)", user, achievement)
    assert not await conn.fetchval("SELECT award_achievement($1, $2)", user, achievement)  # once
    local = await conn.fetchval("SELECT (NOW() AT TIME ZONE 'Pacific/Kiritimati')::date")
    rows = await conn.fetch("SELECT period, period_start, pathway, xp FROM xp_period_totals WHERE user_id = $1", user)
    week_start = local - timedelta(days=local.weekday())
    assert {(r["period"], r["period_start"], r["pathway"], r["xp"]) for r in rows} == {
        ("week", week_start, "", amount),
        ("month", local.replace(day=1), "", amount),
    }

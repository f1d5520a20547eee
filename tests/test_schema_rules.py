"""The guide's CHECK, UNIQUE and foreign-key rules, each proven against real rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.factories import make_member

CHECK_VIOLATIONS = [
    ("UPDATE user_profiles SET total_xp = -1 WHERE user_id = $1", "total_xp"),
    ("UPDATE user_profiles SET level = 0 WHERE user_id = $1", "level"),
    ("UPDATE user_profiles SET message_count = -1 WHERE user_id = $1", "message_count"),
    ("UPDATE user_profiles SET voice_minutes = -1 WHERE user_id = $1", "voice_minutes"),
    ("UPDATE user_profiles SET events_attended = -1 WHERE user_id = $1", "events_attended"),
    ("UPDATE user_profiles SET tournaments_won = -1 WHERE user_id = $1", "tournaments_won"),
    ("UPDATE users SET primary_pathway = 'cooking' WHERE id = $1", "primary_pathway"),
    ("INSERT INTO pathway_progress (user_id, pathway_id) VALUES ($1, 'cooking')", "pathway_id"),
    ("INSERT INTO pathway_progress (user_id, pathway_id, level) VALUES ($1, 'news', 0)", "level"),
    ("INSERT INTO pathway_progress (user_id, pathway_id, xp) VALUES ($1, 'news', -5)", "xp"),
    (
        "INSERT INTO pathway_progress (user_id, pathway_id, next_level_xp) VALUES ($1, 'news', 0)",
        "next_level_xp",
    ),
    (
        "INSERT INTO pathway_progress (user_id, pathway_id, streak_days) VALUES ($1, 'news', -1)",
        "streak_days",
    ),
    ("INSERT INTO notifications (user_id, title, type) VALUES ($1, 't', 'shout')", "type"),
    ("INSERT INTO moderation_logs (moderator_id, action) VALUES ($1, 'yell')", "action"),
    ("INSERT INTO content (type, title, slug, body, author_id) VALUES ('poem', 't', 's', 'b', $1)", "type"),
    (
        "INSERT INTO content (type, title, slug, body, author_id, status) VALUES ('guide', 't', 's', 'b', $1, 'gone')",
        "status",
    ),
    (
        "INSERT INTO content (type, title, slug, body, author_id, visibility) VALUES ('guide','t','s','b',$1,'secret')",
        "visibility",
    ),
    (
        "INSERT INTO content (type, title, slug, body, author_id, view_count) VALUES ('guide','t','s','b',$1,-1)",
        "view_count",
    ),
    ("INSERT INTO achievements (id, name, rarity, first_earned_by) VALUES ('x', 'X', 'shiny', $1)", "rarity"),
    (
        "INSERT INTO achievements (id, name, category, first_earned_by) VALUES ('x', 'X', 'misc', $1)",
        "category",
    ),
    ("INSERT INTO achievements (id, name, xp, first_earned_by) VALUES ('x', 'X', -1, $1)", "xp"),
    (
        "INSERT INTO events (title, type, start_date, host_id, location_type) VALUES ('e','t',NOW(),$1,'moon')",
        "location_type",
    ),
    (
        "INSERT INTO events (title, type, start_date, host_id, max_participants) VALUES ('e','t',NOW(),$1,0)",
        "max_participants",
    ),
    (
        "INSERT INTO events (title, type, start_date, host_id, status) VALUES ('e','t',NOW(),$1,'maybe')",
        "status",
    ),
    (
        "INSERT INTO events (title, type, start_date, end_date, host_id) VALUES ('e','t',NOW(),NOW()-interval '1h',$1)",
        "end_date",
    ),
    (
        "INSERT INTO discord_sync_log (sync_type, status, details) VALUES ('guilds', 'started', jsonb_build_object('by', $1::text))",
        "sync_type",
    ),
    ("INSERT INTO admin_logs (admin_id, action, target_type) VALUES ($1, 'x', 'planet')", "target_type"),
]


@pytest.mark.parametrize(
    ("sql", "column"), CHECK_VIOLATIONS, ids=[f"{i}-{c}" for i, (_, c) in enumerate(CHECK_VIOLATIONS)]
)
async def test_check_constraints_reject_bad_rows(conn, sql, column):
    user = await make_member(conn, "checker")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(sql, user)


async def test_rating_must_be_one_to_five_and_registrations_are_unique(conn):
    user = await make_member(conn)
    event = await conn.fetchval(
        "INSERT INTO events (title, type, start_date) VALUES ('e', 'Meetup', NOW()) RETURNING id"
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO event_registrations (event_id, user_id, rating) VALUES ($1, $2, 6)", event, user
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO event_registrations (event_id, user_id, status) VALUES ($1, $2, 'lost')", event, user
        )
    await conn.execute("INSERT INTO event_registrations (event_id, user_id, rating) VALUES ($1, $2, 5)", event, user)
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO event_registrations (event_id, user_id) VALUES ($1, $2)", event, user)


async def test_server_stats_is_a_singleton(conn):
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO server_stats (id) VALUES (2)")
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO server_stats (id) VALUES (1)")


async def test_unique_rules(conn):
    user = await make_member(conn)
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(
            "INSERT INTO users (discord_id, username) SELECT discord_id, 'dup' FROM users WHERE id = $1", user
        )
    await conn.execute("INSERT INTO pathway_progress (user_id, pathway_id) VALUES ($1, 'gaming')", user)
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO pathway_progress (user_id, pathway_id) VALUES ($1, 'gaming')", user)
    await conn.execute("INSERT INTO content (type, title, slug, body) VALUES ('guide', 'a', 'same-slug', 'b')")
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO content (type, title, slug, body) VALUES ('guide', 'c', 'same-slug', 'd')")
    await conn.execute("INSERT INTO user_achievements (user_id, achievement_id) VALUES ($1, 'first-week')", user)
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO user_achievements (user_id, achievement_id) VALUES ($1, 'first-week')", user)


async def test_foreign_keys_reject_unknown_users(conn):
    for sql in (
        "INSERT INTO pathway_progress (user_id, pathway_id) VALUES ('user_nobody', 'gaming')",
        "INSERT INTO notifications (user_id, title) VALUES ('user_nobody', 't')",
        "INSERT INTO user_achievements (user_id, achievement_id) VALUES ('user_nobody', 'first-week')",
        "INSERT INTO moderation_logs (moderator_id, action) VALUES ('user_nobody', 'warn')",
        "INSERT INTO events (title, type, start_date, host_id) VALUES ('e', 't', NOW(), 'user_nobody')",
        "INSERT INTO content (type, title, slug, body, author_id) VALUES ('guide', 't', 's', 'b', 'user_nobody')",
    ):
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(sql)


async def test_deleting_a_user_cascades_and_sets_null_as_documented(conn):
    target = await make_member(conn, "target")
    moderator = await make_member(conn, "moderator")
    event = await conn.fetchval(
        "INSERT INTO events (title, type, start_date) VALUES ('e', 'Meetup', NOW()) RETURNING id"
    )
    await conn.execute("INSERT INTO pathway_progress (user_id, pathway_id) VALUES ($1, 'news')", target)
    await conn.execute("INSERT INTO notifications (user_id, title) VALUES ($1, 'hi')", target)
    await conn.execute("INSERT INTO user_achievements (user_id, achievement_id) VALUES ($1, 'first-week')", target)
    await conn.execute("INSERT INTO event_registrations (event_id, user_id) VALUES ($1, $2)", event, target)
    log_id = await conn.fetchval(
        "INSERT INTO moderation_logs (moderator_id, target_user_id, action) VALUES ($1, $2, 'warn') RETURNING id",
        moderator,
        target,
    )
    await conn.execute("INSERT INTO analytics (user_id, event_type) VALUES ($1, 'page_view')", target)
    await conn.execute("INSERT INTO admin_logs (admin_id, action) VALUES ($1, 'user_update')", target)
    content_id = await conn.fetchval(
        "INSERT INTO content (type, title, slug, body, reviewed_by) VALUES ('guide', 't', 'rev', 'b', $1) RETURNING id",
        target,
    )

    await conn.execute("DELETE FROM users WHERE id = $1", target)

    for table in (
        "user_profiles",
        "pathway_progress",
        "notifications",
        "user_achievements",
        "event_registrations",
    ):
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE user_id = $1", target) == 0, table
    assert await conn.fetchval("SELECT target_user_id FROM moderation_logs WHERE id = $1", log_id) is None
    assert await conn.fetchval("SELECT count(*) FROM analytics WHERE user_id IS NULL") == 1
    assert await conn.fetchval("SELECT count(*) FROM admin_logs WHERE admin_id IS NULL") == 1
    assert await conn.fetchval("SELECT reviewed_by FROM content WHERE id = $1", content_id) is None

    # The moderator's cases stay on record without them (SET NULL: a departure from the guide's
    # CASCADE, listed in the README).
    await conn.execute("DELETE FROM users WHERE id = $1", moderator)
    assert await conn.fetchval("SELECT moderator_id FROM moderation_logs WHERE id = $1", log_id) is None
    assert await conn.fetchval("SELECT count(*) FROM moderation_logs") == 1


async def test_deleting_an_event_or_achievement_cascades(conn):
    user = await make_member(conn)
    event = await conn.fetchval(
        "INSERT INTO events (title, type, start_date) VALUES ('e', 'Meetup', NOW()) RETURNING id"
    )
    await conn.execute("INSERT INTO event_registrations (event_id, user_id) VALUES ($1, $2)", event, user)
    await conn.execute("DELETE FROM events WHERE id = $1", event)
    assert await conn.fetchval("SELECT count(*) FROM event_registrations") == 0
    await conn.execute("INSERT INTO user_achievements (user_id, achievement_id) VALUES ($1, 'grand-duke')", user)
    await conn.execute("DELETE FROM achievements WHERE id = 'grand-duke'")
    assert await conn.fetchval("SELECT count(*) FROM user_achievements") == 0


async def test_an_author_with_content_cannot_be_deleted(conn):
    author = await make_member(conn, "author")
    await conn.execute(
        "INSERT INTO content (type, title, slug, body, author_id) VALUES ('guide', 't', 'a', 'b', $1)", author
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("DELETE FROM users WHERE id = $1", author)


async def test_timestamps_keep_their_offset(conn):
    user = await make_member(conn)
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(microseconds=5)
    await conn.execute("UPDATE users SET boost_since = $2 WHERE id = $1", user, moment)
    assert await conn.fetchval("SELECT boost_since FROM users WHERE id = $1", user) == moment

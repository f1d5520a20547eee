"""The bot's schema on a Supabase-like database: migrations as the project's non-superuser owner, with
Supabase's auth, roles, grants and extensions left as they were, and the website's requests made the
way PostgREST makes them."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from db import migrate, notifications
from db.pool import connect
from db.users import MemberSnapshot, upsert_member
from tests.factories import make_member, snowflake
from tests.supabase_like import (
    SupabaseProject,
    api_privileges,
    claims_for,
    create_project,
    postgrest,
    sign_up_with_discord,
    supabase_state,
)


@pytest.fixture
async def project(admin_dsn: str) -> AsyncIterator[SupabaseProject]:
    p = await create_project(admin_dsn, f"supa_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    yield p
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{p.name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def migrated(project: SupabaseProject) -> SupabaseProject:
    conn = await connect(project.owner_dsn)
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()
    return project


@pytest.fixture
async def owner(migrated: SupabaseProject) -> AsyncIterator[asyncpg.Connection]:
    """The bot's connection: the project's owner role, not a superuser."""
    conn = await connect(migrated.owner_dsn)
    assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    yield conn
    await conn.close()


@pytest.fixture
async def website(migrated: SupabaseProject) -> AsyncIterator[asyncpg.Connection]:
    """PostgREST's connection: the authenticator login, switching role per request."""
    conn = await connect(migrated.authenticator_dsn)
    yield conn
    await conn.close()


async def test_migrations_run_up_down_and_up_as_the_non_superuser_owner_leaving_supabase_as_it_was(project):
    before = await supabase_state(project.admin_dsn)
    assert before["auth functions"], "the fixture has Supabase's auth functions"
    assert any("uid()" in name and "RETURNS uuid" in body for name, body, _, _ in before["auth functions"])
    # Supabase's grants of every new public table, sequence and function to its API roles.
    assert {kind for _, schema, kind, _ in before["default privileges"] if schema == "public"} == {"r", "S", "f"}
    conn = await connect(project.owner_dsn)
    try:
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ran = await migrate.upgrade(conn)
        assert [m.version for m in ran] == [m.version for m in migrate.discover()]
        assert await supabase_state(project.admin_dsn) == before
        # The shim was not installed: Supabase's own auth.uid() is the one the policies use.
        assert await conn.fetchval("SELECT pg_get_function_result('auth.uid()'::regprocedure)") == "uuid"

        await migrate.downgrade(conn, to=0)
        assert await conn.fetchval("SELECT count(*) FROM migrations") == 0
        left = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname NOT IN ('migrations', 'migrations_pkey')"
        )
        assert left == []
        assert await supabase_state(project.admin_dsn) == before

        again = await migrate.upgrade(conn)
        assert len(again) == len(ran)
        assert await supabase_state(project.admin_dsn) == before
    finally:
        await conn.close()


async def test_the_api_roles_hold_the_same_privileges_on_supabase_as_on_a_plain_postgresql(migrated, db_dsn):
    """Supabase's default privileges (the API roles get every new public object) are set aside while the
    migrations run: every table, view, sequence, column and function gives anon, authenticated and
    service_role exactly what the migrations' own GRANTs give them, as on a database without them."""
    supabase = await api_privileges(migrated.admin_dsn)
    plain = await api_privileges(db_dsn)
    assert ("anon", "user_leaderboard", "SELECT") in plain
    assert ("authenticated", "notifications.read", "UPDATE") in plain
    assert sorted(set(supabase) - set(plain)) == []
    assert sorted(set(plain) - set(supabase)) == []


async def test_supabase_default_grants_give_the_api_roles_nothing_of_the_bot_tables(owner, website):
    member = await make_member(owner, "alice", pathways=("gaming",))
    await notifications.notify(owner, member, "secret")
    await owner.execute("SELECT award_xp($1, 'gaming', 50)", member)
    for table in ("xp_ledger", "outbox", "admin_logs", "dead_letters", "timers", "moderation_sanctions"):
        grants = await owner.fetch(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = $1 AND grantee IN ('anon', 'authenticated')",
            table,
        )
        assert grants == [], f"{table}: {grants}"
    assert await postgrest(website, "anon", {"role": "anon"}, "SELECT * FROM notifications") == []
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await postgrest(website, "anon", {"role": "anon"}, "SELECT * FROM xp_ledger")
    # anon may query users (the guide's grant), but row-level security shows it no member's row.
    assert await postgrest(website, "anon", {"role": "anon"}, "SELECT email FROM users") == []


async def _member_world(owner: asyncpg.Connection) -> dict[str, str]:
    """Two members with rows of every kind the website shows a member of their own."""
    ids = {}
    for name in ("alice", "bob"):
        member = await make_member(owner, name, pathways=("gaming",))
        ids[name] = member
        await notifications.notify(owner, member, f"for {name}")
        await owner.execute("SELECT award_xp($1, 'gaming', 120)", member)
        # A private profile: only its owner sees its pathways and achievements.
        await owner.execute(
            "UPDATE user_profiles SET preferences = preferences || '{\"public_profile\": false}' WHERE user_id = $1",
            member,
        )
        event = await owner.fetchval(
            """INSERT INTO events (title, description, type, start_date, status)
               VALUES ($1, 'x', 'gaming', NOW() + interval '1 day', 'upcoming') RETURNING id""",
            f"{name}'s night",
        )
        await owner.execute(
            "INSERT INTO event_registrations (event_id, user_id, status) VALUES ($1, $2, 'registered')", event, member
        )
    hidden = await owner.fetchval(
        """INSERT INTO achievements (id, name, description, category, rarity, hidden, xp)
           VALUES ('secret-door', 'Secret door', 'x', 'special', 'rare', true, 0) RETURNING id"""
    )
    await owner.execute("SELECT award_achievement($1, $2)", ids["alice"], hidden)
    return ids


async def _what_they_see(website: asyncpg.Connection, claims: dict) -> dict[str, set]:
    q = {
        "users": "SELECT id FROM users",
        "notifications": "SELECT user_id FROM notifications",
        "registrations": "SELECT user_id FROM event_registrations",
        "pathways": "SELECT user_id FROM pathway_progress",
        "achievements": "SELECT user_id FROM user_achievements",
        "profiles": "SELECT user_id FROM user_profiles",
        "hidden": "SELECT id FROM achievements WHERE hidden",
    }
    return {k: {r[0] for r in await postgrest(website, "authenticated", claims, sql)} for k, sql in q.items()}


async def test_a_member_the_bot_knew_first_signs_in_with_discord_and_reads_exactly_their_own_rows(
    migrated, owner, website
):
    ids = await _member_world(owner)
    alice_discord = await owner.fetchval("SELECT discord_id FROM users WHERE id = $1", ids["alice"])
    sub = await sign_up_with_discord(migrated.admin_dsn, alice_discord, name="alice")
    seen = await _what_they_see(website, claims_for(sub))
    a = ids["alice"]
    assert seen == {
        "users": {a},
        "notifications": {a},
        "registrations": {a},
        "pathways": {a},
        "achievements": {a},
        "profiles": {a},
        "hidden": {"secret-door"},
    }
    # Marking one's own notifications read is the one write; nobody else's.
    marked = await postgrest(
        website, "authenticated", claims_for(sub), "UPDATE notifications SET read = true RETURNING user_id"
    )
    assert [r["user_id"] for r in marked] == [a]
    assert await owner.fetchval("SELECT count(*) FROM notifications WHERE NOT read AND user_id = $1", ids["bob"]) == 1


async def test_a_member_who_signs_in_before_the_bot_knows_them_gets_one_row_the_bot_then_uses(migrated, owner, website):
    discord_id = snowflake()
    sub = await sign_up_with_discord(migrated.admin_dsn, discord_id, name="dana")
    claims = claims_for(sub)
    (row,) = await postgrest(website, "authenticated", claims, "SELECT claim_member() AS id")
    created = row["id"]
    assert created is not None
    assert (await postgrest(website, "authenticated", claims, "SELECT claim_member() AS id"))[0]["id"] == created
    # Then the bot sees them in the server: the same row, now with their Discord details.
    same = await upsert_member(owner, MemberSnapshot(discord_id=discord_id, username="dana"))
    assert same == created
    await notifications.notify(owner, same, "welcome")
    seen = await _what_they_see(website, claims)
    assert seen["users"] == {created} and seen["notifications"] == {created}


async def test_a_member_who_writes_someone_elses_discord_id_into_their_metadata_gets_nothing_of_theirs(
    migrated, owner, website
):
    ids = await _member_world(owner)
    alice_discord = await owner.fetchval("SELECT discord_id FROM users WHERE id = $1", ids["alice"])
    mallory_discord = snowflake()
    forged = {"provider_id": alice_discord, "sub": alice_discord, "full_name": "alice"}
    sub = await sign_up_with_discord(migrated.admin_dsn, mallory_discord, name="mallory", metadata=forged)
    claims = claims_for(sub, metadata=forged)
    seen = await _what_they_see(website, claims)
    assert seen == {k: set() for k in seen}
    (row,) = await postgrest(website, "authenticated", claims, "SELECT claim_member() AS id")
    mine = await owner.fetchval("SELECT id FROM users WHERE discord_id = $1", mallory_discord)
    assert row["id"] == mine and mine not in ids.values()
    # A signed-in user without a Discord identity is nobody's member.
    stranger = await postgrest(website, "authenticated", claims_for(str(uuid.uuid4())), "SELECT claim_member() AS id")
    assert stranger[0]["id"] is None


async def test_anonymous_visitors_read_no_member_private_rows(migrated, owner, website):
    await _member_world(owner)
    anon = {"role": "anon"}
    for sql in (
        "SELECT * FROM notifications",
        "SELECT * FROM event_registrations",
        "SELECT * FROM moderation_logs",
        "SELECT * FROM users",
        "SELECT id FROM achievements WHERE hidden",
    ):
        assert await postgrest(website, "anon", anon, sql) == [], sql
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await postgrest(website, "anon", anon, "SELECT claim_member()")


async def test_nobody_but_the_bot_asks_which_roles_a_member_holds(migrated, owner, website):
    """has_role() and is_staff() read past row-level security: through /rpc they told anyone any
    member's roles and staff status, private profiles included."""
    member = await make_member(owner, "private", roles=("111111111111111111",))
    await owner.execute("INSERT INTO staff_roles (role_id) VALUES ('111111111111111111') ON CONFLICT DO NOTHING")
    for role, claims in (("anon", {"role": "anon"}), ("authenticated", claims_for(str(uuid.uuid4())))):
        for sql in ("SELECT is_staff($1)", "SELECT has_role($1, '111111111111111111')"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await postgrest(website, role, claims, sql, member)
    assert await owner.fetchval("SELECT is_staff($1)", member) is True  # the bot's own check still works


async def test_anonymous_visitors_read_the_public_boards_and_a_members_position(migrated, owner, website):
    """The guide's public leaderboard on Supabase: anon's user_leaderboard lists current members with
    public profiles in rank order (it was empty: a security-invoker view over users), pages and
    positions come from the functions the website calls, and the private ones stay out."""
    ids = {}
    for name, amount in (("ann", 300), ("ben", 900), ("cat", 300), ("dee", 50), ("eve", 5000)):
        ids[name] = await make_member(owner, name, pathways=("gaming",))
        await owner.execute("SELECT award_xp($1, 'gaming', $2)", ids[name], amount)
    await owner.execute(
        "UPDATE user_profiles SET preferences = preferences || '{\"public_profile\": false}' WHERE user_id = $1",
        ids["eve"],
    )
    gone = await make_member(owner, "gil", in_server=False)
    await owner.execute("SELECT award_xp($1, NULL, 9000)", gone)
    anon = {"role": "anon"}
    board = await postgrest(website, "anon", anon, "SELECT username, total_xp, rank FROM user_leaderboard LIMIT 100")
    tied = sorted(("ann", "cat"), key=ids.get, reverse=True)  # ties by user id, descending
    assert [tuple(r) for r in board] == [("ben", 900, 1), (tied[0], 300, 2), (tied[1], 300, 2), ("dee", 50, 4)]
    gaming = await postgrest(
        website, "anon", anon, "SELECT username, rank FROM pathway_leaderboard WHERE pathway_id = 'gaming' LIMIT 50"
    )
    assert [(r["username"], r["rank"]) for r in gaming] == [("ben", 1), (tied[0], 2), (tied[1], 2), ("dee", 4)]
    page = await postgrest(
        website, "anon", anon, "SELECT username FROM user_leaderboard_page(300, $1, 10)", ids[tied[0]]
    )
    assert [r["username"] for r in page] == [tied[1], "dee"]
    for name, rank in (("ben", 1), ("cat", 2), ("dee", 4), ("eve", None)):
        (row,) = await postgrest(website, "anon", anon, "SELECT member_position($1) AS rank", ids[name])
        assert row["rank"] == rank, name
    (row,) = await postgrest(website, "anon", anon, "SELECT member_position($1, 'gaming') AS rank", ids["dee"])
    assert row["rank"] == 4
    for table in ("board_totals", "board_xp_counts", "xp_ledger"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await postgrest(website, "anon", anon, f"SELECT * FROM {table}")


async def test_a_backup_of_a_supabase_project_restores_as_its_owner_and_leaves_supabases_schemas_alone(
    migrated, owner, tmp_path
):
    """pg_dump of the whole database took Supabase's own schemas (auth's users, sessions and tokens)
    and the restore, as the non-superuser owner, could never drop them: it always failed."""
    from bot.backup import backup, restore, tools_for

    member = await make_member(owner, "kept")
    await owner.execute("SELECT award_xp($1, NULL, 250)", member)
    sub = await sign_up_with_discord(migrated.admin_dsn, snowflake(), name="website-only")
    before = await supabase_state(migrated.admin_dsn)
    privileges = await api_privileges(migrated.admin_dsn)
    tools = await tools_for(migrated.owner_dsn)
    dump = await backup(migrated.owner_dsn, tmp_path / "project.dump", tools)
    assert dump.stat().st_mode & 0o777 == 0o600  # members' data: the admin's eyes only
    await owner.execute("SELECT award_xp($1, NULL, 1000)", member)  # a change the restore takes back
    await restore(migrated.owner_dsn, dump, tools)
    assert await owner.fetchval("SELECT total_xp FROM user_profiles WHERE user_id = $1", member) == 250
    assert await supabase_state(migrated.admin_dsn) == before
    # The restored tables, created while Supabase's default privileges were set aside, give the API
    # roles what the migrations gave them and nothing of those defaults.
    assert await api_privileges(migrated.admin_dsn) == privileges
    admin = await connect(migrated.admin_dsn)
    try:
        assert await admin.fetchval("SELECT count(*) FROM auth.users WHERE id = $1::uuid", sub) == 1
    finally:
        await admin.close()

"""The bot's schema on a Supabase-like database: migrations as the project's non-superuser owner, with
Supabase's auth, roles, grants and extensions left as they were, and the website's requests made the
way PostgREST makes them."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from subprocess import DEVNULL

import asyncpg
import pytest

from cogs.moderation.timeouts_in_discord import record_timeout
from db import migrate, moderation, notifications
from db.pool import connect
from db.users import MemberSnapshot, upsert_member
from tests.factories import make_member, snowflake
from tests.supabase_like import (
    OWNER,
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


async def test_global_default_privileges_are_set_aside_for_the_migrations_too(project, db_dsn):
    """Default privileges given without IN SCHEMA (for every schema) apply to the bot's tables as
    well; they were not set aside, so anon got every table the migrations created."""
    conn = await connect(project.owner_dsn)
    try:
        await conn.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO anon")
        await conn.execute("ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO authenticated")
        # A common hardening: no function is anyone's to call unless granted. The migrations'
        # functions must still be callable by whom they are on a plain PostgreSQL.
        await conn.execute("ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC")
        before = await supabase_state(project.admin_dsn)
        assert any(schema == "-" for _, schema, _, _ in before["default privileges"])
        await migrate.upgrade(conn)
        assert await supabase_state(project.admin_dsn) == before
    finally:
        await conn.close()
    supabase = await api_privileges(project.admin_dsn)
    plain = await api_privileges(db_dsn)
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
    from bot.ops.backup import backup, restore, tools_for

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


async def test_a_restore_killed_part_way_changes_nothing_the_default_privileges_included(migrated, owner, tmp_path):
    """The restore set the project's default privileges aside in a transaction of its own, committed
    before pg_restore ran: killed then, it left every future table without the API roles' grants."""
    from bot.ops.backup import backup, tools_for

    member = await make_member(owner, "kept")
    await owner.execute("SELECT award_xp($1, NULL, 250)", member)
    dump = await backup(migrated.owner_dsn, tmp_path / "project.dump", await tools_for(migrated.owner_dsn))
    await owner.execute("SELECT award_xp($1, NULL, 1000)", member)
    before = await supabase_state(migrated.admin_dsn)
    admin = await connect(migrated.admin_dsn)
    env = {
        **os.environ,
        "DATABASE_URL": migrated.owner_dsn,
        "CONCLAVE_DATA_DIR": str(tmp_path),
        "CONCLAVE_CONFIG": str(tmp_path / "none.toml"),
    }
    try:
        async with admin.transaction():
            # The restore's DROP of the ledger waits behind this lock: it is under way, not done.
            await admin.execute("LOCK TABLE xp_ledger IN ACCESS SHARE MODE")
            restoring = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "restore", str(dump), env=env, stdout=DEVNULL, stderr=DEVNULL
            )
            waiting = 0
            for _ in range(600):  # pg_locks: pg_stat_activity stays as it was for this transaction
                waiting = await admin.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'xp_ledger'::regclass"
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting == 1
            restoring.kill()
            await restoring.wait()
        for _ in range(600):  # psql, left without its input's end, rolls back and goes
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = $1 "
                "AND pid <> $2",
                OWNER,
                await owner.fetchval("SELECT pg_backend_pid()"),
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    assert await supabase_state(migrated.admin_dsn) == before
    assert await owner.fetchval("SELECT total_xp FROM user_profiles WHERE user_id = $1", member) == 1250


async def _signed_in(migrated: SupabaseProject, owner: asyncpg.Connection, *names: str, **kw: object) -> dict:
    """Members the bot knows, each signed in to the website with Discord: name -> (users.id, claims)."""
    found = {}
    for name in names:
        member = await make_member(owner, name, **kw)
        discord_id = await owner.fetchval("SELECT discord_id FROM users WHERE id = $1", member)
        found[name] = (member, claims_for(await sign_up_with_discord(migrated.admin_dsn, discord_id, name=name)))
    return found


async def _refused(website: asyncpg.Connection, claims: dict, sql: str, *args: object) -> bool:
    """The request is refused outright: no privilege, or a row the policies do not let it write."""
    try:
        await postgrest(website, claims["role"], claims, sql, *args)
    except asyncpg.InsufficientPrivilegeError:
        return True
    return False


async def test_a_member_changes_their_own_preferences_and_nobody_elses(migrated, owner, website):
    """The guide's "Update preferences": .from('user_profiles').update({preferences}).eq('user_id', id)."""
    people = await _signed_in(migrated, owner, "alice", "bob")
    (alice, claims), (bob, _) = people["alice"], people["bob"]
    update = "UPDATE user_profiles SET preferences = preferences || $1::jsonb WHERE user_id = $2 RETURNING user_id"
    dark = {"theme": "dark"}
    assert [r["user_id"] for r in await postgrest(website, "authenticated", claims, update, dark, alice)] == [alice]
    assert await postgrest(website, "authenticated", claims, update, dark, bob) == []  # bob's public row: not hers
    everyone = 'UPDATE user_profiles SET preferences = preferences || \'{"theme": "light"}\' RETURNING user_id'
    assert [r["user_id"] for r in await postgrest(website, "authenticated", claims, everyone)] == [alice]
    themes = dict(await owner.fetch("SELECT user_id, preferences ->> 'theme' FROM user_profiles"))
    assert themes == {alice: "light", bob: "default"}
    # XP, levels and counts stay the bot's; no preferences the bot would misread.
    assert await _refused(website, claims, "UPDATE user_profiles SET total_xp = 1000000 WHERE user_id = $1", alice)
    assert await _refused(website, claims, "UPDATE user_profiles SET level = 99")
    for bad in ({"public_profile": "maybe"}, {"achievement_notify": "everyone"}, {"public_profile": None}):
        assert await _refused(website, claims, update, bad, alice), bad
    assert await _refused(website, claims, "UPDATE user_profiles SET preferences = '[1]' WHERE user_id = $1", alice)
    anon = {"role": "anon"}
    assert await _refused(website, anon, update, dark, alice)
    # Going private through the website takes her off the public board.
    await owner.execute("SELECT award_xp($1, NULL, 500)", alice)
    await owner.execute("SELECT award_xp($1, NULL, 100)", bob)
    board = "SELECT id FROM user_leaderboard LIMIT 10"
    assert [r["id"] for r in await postgrest(website, "anon", anon, board)] == [alice, bob]
    await postgrest(website, "authenticated", claims, update, {"public_profile": False}, alice)
    assert [r["id"] for r in await postgrest(website, "anon", anon, board)] == [bob]
    (row,) = await postgrest(website, "anon", anon, "SELECT member_position($1) AS rank", bob)
    assert row["rank"] == 1


async def test_a_malformed_public_profile_written_elsewhere_breaks_no_readers_query(migrated, owner, website):
    """The policies cast preferences.public_profile to boolean: one 'maybe' made every read of
    profiles, pathways and achievements fail for everyone."""
    people = await _signed_in(migrated, owner, "alice", "bob", pathways=("gaming",))
    (alice, claims), (bob, _) = people["alice"], people["bob"]
    await owner.execute(
        'UPDATE user_profiles SET preferences = preferences || \'{"public_profile": "maybe"}\' WHERE user_id = $1',
        bob,
    )
    for role, who in (("anon", {"role": "anon"}), ("authenticated", claims)):
        for table in ("user_profiles", "pathway_progress", "user_achievements"):
            await postgrest(website, role, who, f"SELECT user_id FROM {table}")  # no error
        seen = await postgrest(website, role, who, "SELECT user_id FROM user_profiles")
        assert {r["user_id"] for r in seen} == {alice, bob}  # read as public, as the public boards read it


async def test_a_member_writes_their_own_content_and_only_staff_publish_their_own(migrated, owner, website):
    """The guide's "Create article" (a draft, author_id the member) and "Publish content"."""
    staff_role = "222222222222222222"
    await owner.execute("INSERT INTO staff_roles (role_id) VALUES ($1) ON CONFLICT DO NOTHING", staff_role)
    people = await _signed_in(migrated, owner, "alice", "bob")
    people |= await _signed_in(migrated, owner, "sam", roles=(staff_role,))
    (alice, a), (bob, b), (sam, s) = people["alice"], people["bob"], people["sam"]
    create = """INSERT INTO content (type, pathway, title, slug, excerpt, body, author_id, tags, status)
                VALUES ('article', 'gaming', $1, $2, 'x', 'body', $3, ARRAY['gaming'], $4) RETURNING id"""
    publish = "UPDATE content SET status = 'published', published_at = NOW() WHERE id = $1 RETURNING id"
    (draft,) = await postgrest(website, "authenticated", a, create, "Tips", "tips", alice, "draft")
    draft = draft["id"]
    # Not in anyone else's name, not published straight away, not published by the author alone.
    assert await _refused(website, a, create, "Forged", "forged", bob, "draft")
    assert await _refused(website, a, create, "Live", "live", alice, "published")
    assert await _refused(website, a, publish, draft)
    submitted = "UPDATE content SET status = 'pending' WHERE id = $1 RETURNING id"
    assert [r["id"] for r in await postgrest(website, "authenticated", a, submitted, draft)] == [draft]
    assert await _refused(website, a, "UPDATE content SET author_id = $2 WHERE id = $1", draft, bob)
    assert await _refused(website, a, "UPDATE content SET view_count = 1000 WHERE id = $1", draft)
    # Nobody else's content: not another member's, not a staff member's.
    assert await postgrest(website, "authenticated", b, submitted, draft) == []
    assert await postgrest(website, "authenticated", s, publish, draft) == []
    assert await owner.fetchval("SELECT status FROM content WHERE id = $1", draft) == "pending"
    # A staff member publishes their own, as the guide shows; the public then reads it.
    (own,) = await postgrest(website, "authenticated", s, create, "News", "news", sam, "draft")
    assert [r["id"] for r in await postgrest(website, "authenticated", s, publish, own["id"])] == [own["id"]]
    listed = await postgrest(website, "anon", {"role": "anon"}, "SELECT slug FROM content")
    assert [r["slug"] for r in listed] == ["news"]
    assert await _refused(website, {"role": "anon"}, create, "Anon", "anon", alice, "draft")


async def test_achievement_progress_and_the_servers_figures_are_the_service_roles_to_write(migrated, owner, website):
    """The guide's "Update progress" on user_achievements, "Update stats" on server_stats and the sync
    log's "Start sync" / "Complete sync": the service role's writes. A member cannot write their own
    progress (reaching 100 is the award: they would award themselves), nor anyone's figures."""
    people = await _signed_in(migrated, owner, "alice")
    alice, claims = people["alice"]
    await owner.execute(
        """INSERT INTO achievements (id, name, description, category, rarity, xp)
           VALUES ('event-veteran', 'Event veteran', 'x', 'community', 'common', 0)"""
    )
    await owner.execute(
        "INSERT INTO user_achievements (user_id, achievement_id, progress) VALUES ($1, 'event-veteran', 40)", alice
    )
    progress = "UPDATE user_achievements SET progress = $2 WHERE user_id = $1 AND achievement_id = 'event-veteran'"
    stats = "UPDATE server_stats SET member_count = 1247, online_count = 342 WHERE id = 1 RETURNING id"
    start = "INSERT INTO discord_sync_log (sync_type, status) VALUES ('members', 'started') RETURNING id"
    for who in (claims, {"role": "anon"}):
        assert await _refused(website, who, progress + " RETURNING id", alice, 100)
        assert await _refused(website, who, stats)
        assert await _refused(website, who, start)
    assert await owner.fetchval("SELECT progress FROM user_achievements WHERE user_id = $1", alice) == 40
    service = {"role": "service_role"}
    assert len(await postgrest(website, "service_role", service, progress + " RETURNING id", alice, 75)) == 1
    assert await owner.fetchval("SELECT progress FROM user_achievements WHERE user_id = $1", alice) == 75
    await owner.execute("INSERT INTO server_stats (id) VALUES (1) ON CONFLICT DO NOTHING")
    assert len(await postgrest(website, "service_role", service, stats)) == 1
    (log,) = await postgrest(website, "service_role", service, start)
    done = await postgrest(
        website,
        "service_role",
        service,
        """UPDATE discord_sync_log SET status = 'completed', members_synced = 1247, completed_at = NOW(),
                  details = '{"new_members": 12}' WHERE id = $1 RETURNING status""",
        log["id"],
    )
    assert [r["status"] for r in done] == ["completed"]
    assert await owner.fetchval("SELECT member_count FROM server_stats WHERE id = 1") == 1247


async def test_a_member_marks_their_own_notifications_read_and_nobody_elses(migrated, owner, website):
    """The guide's "Mark as read": .from('notifications').update({read: true}).eq('id', id)."""
    people = await _signed_in(migrated, owner, "alice", "bob")
    (alice, claims), (bob, _) = people["alice"], people["bob"]
    ids = {who: await notifications.notify(owner, who, f"for {who}") for who in (alice, bob)}
    mark = "UPDATE notifications SET read = true WHERE id = $1 RETURNING id"
    assert [r["id"] for r in await postgrest(website, "authenticated", claims, mark, ids[alice])] == [ids[alice]]
    assert await postgrest(website, "authenticated", claims, mark, ids[bob]) == []
    assert await _refused(website, claims, "UPDATE notifications SET title = 'x' WHERE id = $1", ids[alice])
    assert await _refused(website, claims, "UPDATE notifications SET user_id = $2 WHERE id = $1", ids[alice], bob)
    assert await _refused(website, {"role": "anon"}, mark, ids[bob])
    read = dict(await owner.fetch("SELECT user_id, read FROM notifications"))
    assert read == {alice: True, bob: False}


async def _event(owner: asyncpg.Connection, title: str, **fields: object) -> str:
    columns = {"title": title, "type": "'community'", "start_date": "now() + interval '2 days'", **fields}
    sql_values = ", ".join(str(v) for v in columns.values())
    return await owner.fetchval(f"INSERT INTO events ({', '.join(columns)}) VALUES ({sql_values}) RETURNING id::text")


async def _refusal(website: asyncpg.Connection, claims: dict, sql: str, *args: object) -> str:
    """What the database said when it refused a website call (PostgREST passes the message on)."""
    with pytest.raises(asyncpg.PostgresError) as refused:
        await postgrest(website, claims["role"], claims, sql, *args)
    return str(refused.value)


async def test_members_register_leave_and_rate_on_the_website_with_the_bots_rules(migrated, owner, website):
    """The guide's website registers by inserting rows, which no role may do (the capacity and the
    waitlist are the bot's): the functions apply the same rules and take the same lock."""
    people = await _signed_in(migrated, owner, "alice", "bob", "cat")
    (alice, a), (bob, b), (cat, c) = people["alice"], people["bob"], people["cat"]
    event = await _event(owner, "'Raid night'", max_participants=1)
    register = "SELECT * FROM register_for_event($1::uuid)"
    assert [tuple(r) for r in await postgrest(website, "authenticated", a, register, event)] == [("registered", None)]
    assert [tuple(r) for r in await postgrest(website, "authenticated", b, register, event)] == [("waitlisted", 1)]
    assert [tuple(r) for r in await postgrest(website, "authenticated", a, register, event)] == [("registered", None)]
    assert await owner.fetchval("SELECT participants FROM events WHERE id = $1::uuid", event) == [alice]
    # The bot's own path sees the same queue: cat joins the waitlist behind bob.
    async with owner.transaction():
        await owner.execute("SELECT 1 FROM events WHERE id = $1::uuid FOR UPDATE", event)
        joined = await owner.fetchrow("SELECT * FROM event_register($1::uuid, $2, 1)", event, cat)
    assert (joined["registration_status"], joined["waitlist_position"]) == ("waitlisted", 2)

    leave = "SELECT leave_event($1::uuid) AS before"
    assert (await postgrest(website, "authenticated", a, leave, event))[0]["before"] == "registered"
    assert await owner.fetchval("SELECT participants FROM events WHERE id = $1::uuid", event) == [bob]
    told = await postgrest(website, "authenticated", b, "SELECT title, metadata FROM notifications")
    assert [(r["title"], r["metadata"]["event_id"]) for r in told] == [("You're in: Raid night", event)]
    assert await postgrest(website, "authenticated", c, "SELECT title FROM notifications") == []
    assert (await postgrest(website, "authenticated", a, leave, event))[0]["before"] is None

    rate = "SELECT rate_event($1::uuid, $2, $3)"
    assert "Ratings open once the event is over." in await _refusal(website, b, rate, event, 5, "great")
    await owner.execute("UPDATE events SET status = 'completed' WHERE id = $1::uuid", event)
    assert "Only those who attended" in await _refusal(website, b, rate, event, 5, "great")
    await owner.execute("UPDATE event_registrations SET status = 'attended' WHERE user_id = $1", bob)
    assert "1 to 5" in await _refusal(website, b, rate, event, 6, None)
    assert "at most 1,000" in await _refusal(website, b, rate, event, 5, "x" * 1001)
    await postgrest(website, "authenticated", b, rate, event, 5, "  great  ")
    row = await owner.fetchrow("SELECT rating, feedback FROM event_registrations WHERE user_id = $1", bob)
    assert (row["rating"], row["feedback"]) == (5, {"comments": "great"})
    # Nobody writes registrations directly, and anon calls none of it.
    assert await _refused(
        website, a, "INSERT INTO event_registrations (event_id, user_id) VALUES ($1::uuid, $2)", event, alice
    )
    for sql in (register, leave):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await postgrest(website, "anon", {"role": "anon"}, sql, event)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await postgrest(website, "authenticated", a, "SELECT * FROM event_register($1::uuid, $2, NULL)", event, alice)


async def test_the_website_refuses_a_registration_the_bot_would_refuse_saying_why(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice")
    alice, claims = people["alice"]
    register = "SELECT * FROM register_for_event($1::uuid)"
    cases = {
        "This event was cancelled.": await _event(owner, "'a'", status="'cancelled'"),
        "There is no such event.": await _event(owner, "'b'", status="'draft'"),
        "The registration deadline has passed.": await _event(
            owner, "'c'", registration_deadline="now() - interval '1 hour'"
        ),
        "This event needs level 5; you are level 1.": await _event(owner, "'d'", min_level=5),
        "This event is for members of the gaming pathway": await _event(owner, "'e'", required_pathway="'gaming'"),
        "a role you do not hold": await _event(owner, "'f'", required_roles="""'["123456789012345678"]'"""),
        "Registration for this event is closed.": await _event(owner, "'g'", status="'completed'"),
    }
    for said, event in cases.items():
        assert said in await _refusal(website, claims, register, event), said
    open_event = await _event(owner, "'open'")
    discord_id = await owner.fetchval("SELECT discord_id FROM users WHERE id = $1", alice)
    case = await owner.fetchval(
        "INSERT INTO moderation_logs (target_user_id, action, reason) VALUES ($1, 'timeout', 'x') RETURNING id",
        alice,
    )
    await owner.execute(
        "INSERT INTO moderation_sanctions (case_id, guild_id, target_discord_id, kind) VALUES ($1, '1', $2, 'timeout')",
        case,
        discord_id,
    )
    assert "while a timeout is in force" in await _refusal(website, claims, register, open_event)
    await owner.execute("UPDATE moderation_sanctions SET status = 'lifted'")
    await owner.execute("UPDATE users SET in_server = false WHERE id = $1", alice)
    assert "Join the Discord server" in await _refusal(website, claims, register, open_event)
    assert await owner.fetchval("SELECT count(*) FROM event_registrations") == 0


async def test_a_member_timed_out_in_discords_own_menus_is_refused_by_the_website_too(migrated, owner, website):
    """A timeout a moderator gives in Discord's menus goes on record the way the bot records it
    (cogs/moderation/timeouts_in_discord.py, here on the project's own database as its owner): the
    website's register_for_event then refuses that member with the bot's sentence."""
    people = await _signed_in(migrated, owner, "alice", "bob")
    (alice, a), (_, b) = people["alice"], people["bob"]
    event = await _event(owner, "'Raid night'")
    register = "SELECT * FROM register_for_event($1::uuid)"
    discord_id = await owner.fetchval("SELECT discord_id FROM users WHERE id = $1", alice)
    until = datetime.now(UTC) + timedelta(hours=1)
    async with owner.transaction():
        await record_timeout(
            owner,
            guild_id="1",
            discord_id=discord_id,
            target_id=alice,
            until=until,
            moderator_id=None,
            reason="timed out in Discord: spam",
        )
    said = await _refusal(website, a, register, event)
    assert said == "You can't register while a timeout is in force."  # the bot's sentence, word for word
    assert [tuple(r) for r in await postgrest(website, "authenticated", b, register, event)] == [("registered", None)]
    async with owner.transaction():  # removed early in Discord: the sanction ends as a lift ends it
        sanction = await moderation.active_sanction(owner, "1", discord_id, "timeout", lock=True)
        await moderation.end_sanction(owner, sanction.id, status="lifted")
    assert [tuple(r) for r in await postgrest(website, "authenticated", a, register, event)] == [("registered", None)]


async def test_a_sanction_past_its_end_does_not_refuse_on_the_website_while_the_bot_is_away(migrated, owner, website):
    """The bot ends a timeout, temporary ban or mute by its timer; while the bot is down (a deploy,
    an outage) the row still says active past its end, and the website refused the member for it."""
    people = await _signed_in(migrated, owner, "alice")
    alice, claims = people["alice"]
    event = await _event(owner, "'Raid night'")
    discord_id = await owner.fetchval("SELECT discord_id FROM users WHERE id = $1", alice)
    case = await owner.fetchval(
        "INSERT INTO moderation_logs (target_user_id, action, reason) VALUES ($1, 'timeout', 'x') RETURNING id",
        alice,
    )
    sanction = await owner.fetchval(
        """INSERT INTO moderation_sanctions (case_id, guild_id, target_discord_id, kind, expires_at)
           VALUES ($1, '1', $2, 'timeout', now() + interval '1 hour') RETURNING id""",
        case,
        discord_id,
    )
    register = "SELECT * FROM register_for_event($1::uuid)"
    assert "while a timeout is in force" in await _refusal(website, claims, register, event)
    await owner.execute(
        "UPDATE moderation_sanctions SET expires_at = now() - interval '1 minute' WHERE id = $1", sanction
    )
    assert [tuple(r) for r in await postgrest(website, "authenticated", claims, register, event)] == [
        ("registered", None)
    ]


async def test_who_registered_is_not_public_nor_deleted_content_and_views_count(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice", "bob")
    (alice, a), (bob, _) = people["alice"], people["bob"]
    await owner.execute(
        "UPDATE user_profiles SET preferences = preferences || '{\"public_profile\": false}' WHERE user_id = $1", bob
    )
    event = await _event(owner, "'Open night'")
    for claims in (a, people["bob"][1]):
        await postgrest(website, "authenticated", claims, "SELECT * FROM register_for_event($1::uuid)", event)
    anon = {"role": "anon"}
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await postgrest(website, "anon", anon, "SELECT participants FROM events")
    rows = await postgrest(website, "anon", anon, "SELECT title, current_participants FROM events")
    assert [tuple(r) for r in rows] == [("Open night", 2)]
    listed = await postgrest(website, "anon", anon, "SELECT participants, participant_count FROM active_events")
    assert [tuple(r) for r in listed] == [([alice], 2)]  # bob's profile is private
    mine = await postgrest(website, "authenticated", people["bob"][1], "SELECT participants FROM active_events")
    assert mine[0]["participants"] == [alice, bob]  # bob sees himself

    author = alice
    post = await owner.fetchval(
        """INSERT INTO content (type, title, slug, body, author_id, status, published_at)
           VALUES ('article', 'Old news', 'old-news', 'x', $1, 'published', now()) RETURNING id::text""",
        author,
    )
    count = "SELECT increment_view_count($1::uuid)"
    await postgrest(website, "anon", anon, count, post)
    await postgrest(website, "authenticated", a, count, post)
    assert await owner.fetchval("SELECT view_count FROM content WHERE id = $1::uuid", post) == 2
    assert len(await postgrest(website, "anon", anon, "SELECT id FROM content")) == 1
    await owner.execute("UPDATE content SET deleted_at = now() WHERE id = $1::uuid", post)
    assert await postgrest(website, "anon", anon, "SELECT id FROM content") == []
    await postgrest(website, "anon", anon, count, post)  # a deleted item counts no views
    assert await owner.fetchval("SELECT view_count FROM content WHERE id = $1::uuid", post) == 2
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await postgrest(website, "anon", anon, "SELECT check_rate_limit($1, 1, 1)", alice)


async def test_an_anonymous_view_does_not_rewrite_the_article(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice")
    alice = people["alice"][0]
    post = await owner.fetchval(
        """INSERT INTO content (type, title, slug, body, author_id, status, published_at)
           VALUES ('article', 'News', 'news', 'x', $1, 'published', now()) RETURNING id::text""",
        alice,
    )
    edited = "SELECT updated_at, search_vector::text FROM content WHERE id = $1::uuid"
    before = tuple(await owner.fetchrow(edited, post))
    await postgrest(website, "anon", {"role": "anon"}, "SELECT increment_view_count($1::uuid)", post)
    assert tuple(await owner.fetchrow(edited, post)) == before  # a read is not an edit
    assert await owner.fetchval("SELECT view_count FROM content WHERE id = $1::uuid", post) == 1
    await owner.execute("UPDATE content SET body = 'y' WHERE id = $1::uuid", post)
    assert tuple(await owner.fetchrow(edited, post)) != before  # an edit is stamped and indexed


async def test_active_events_lists_only_current_members(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice", "bob")
    (alice, a), (bob, b) = people["alice"], people["bob"]
    event = await _event(owner, "'Open night'")
    for claims in (a, b):
        await postgrest(website, "authenticated", claims, "SELECT * FROM register_for_event($1::uuid)", event)
    await owner.execute("UPDATE users SET in_server = false WHERE id = $1", bob)  # bob left the server
    listed = await postgrest(website, "anon", {"role": "anon"}, "SELECT participants FROM active_events")
    assert listed[0]["participants"] == [alice]


async def test_leaving_a_finished_event_promotes_nobody(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice", "bob")
    (_alice, a), (bob, b) = people["alice"], people["bob"]
    event = await _event(owner, "'Open night'", max_participants=1)
    for claims in (a, b):
        await postgrest(website, "authenticated", claims, "SELECT * FROM register_for_event($1::uuid)", event)
    await owner.execute(
        "UPDATE events SET status = 'completed', start_date = now() - interval '3 hours', end_date = now() - interval '1 hour' WHERE id = $1::uuid",
        event,
    )
    said = await _refusal(website, a, "SELECT leave_event($1::uuid)", event)  # a no-show, after the end
    assert "This event is over." in said
    status = await owner.fetchval(
        "SELECT status FROM event_registrations WHERE event_id = $1::uuid AND user_id = $2", event, bob
    )
    told = await owner.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND title LIKE 'You''re in:%'", bob
    )
    assert (status, told) == ("waitlisted", 0)


async def test_leaving_a_cancelled_event_tells_nobody_they_are_in(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice", "bob")
    (_alice, a), (bob, b) = people["alice"], people["bob"]
    event = await _event(owner, "'Open night'", max_participants=1)
    for claims in (a, b):
        await postgrest(website, "authenticated", claims, "SELECT * FROM register_for_event($1::uuid)", event)
    await owner.execute("UPDATE events SET status = 'cancelled' WHERE id = $1::uuid", event)  # as /event cancel
    said = await _refusal(website, a, "SELECT leave_event($1::uuid)", event)
    assert "This event was cancelled." in said
    told = await owner.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND title LIKE 'You''re in:%'", bob
    )
    assert told == 0


async def test_ratings_open_once_the_event_is_over_as_in_discord(migrated, owner, website):
    people = await _signed_in(migrated, owner, "alice")
    _alice, a = people["alice"]
    event = await _event(owner, "'Open night'")
    await postgrest(website, "authenticated", a, "SELECT * FROM register_for_event($1::uuid)", event)
    await owner.execute(
        "UPDATE events SET status = 'ongoing', start_date = now() - interval '5 minutes' WHERE id = $1::uuid", event
    )
    await owner.execute(
        "UPDATE event_registrations SET status = 'attended' WHERE event_id = $1::uuid", event
    )  # checked in
    refused = False
    try:
        await postgrest(website, "authenticated", a, "SELECT rate_event($1::uuid, 1, 'meh so far')", event)
    except asyncpg.PostgresError:
        refused = True
    assert refused  # cogs/events/ratings.py: "Ratings open once the event is over."

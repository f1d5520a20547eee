"""The migration runner and the schema it builds."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from db import migrate
from db.pool import connect

GUIDE_TABLES = {
    "users",
    "user_profiles",
    "pathway_progress",
    "content",
    "events",
    "event_registrations",
    "achievements",
    "user_achievements",
    "notifications",
    "server_stats",
    "moderation_logs",
    "analytics",
    "discord_sync_log",
    "admin_logs",
    "migrations",
}

GUIDE_INDEXES = {
    "idx_users_discord_id",
    "idx_users_username",
    "idx_users_in_server",
    "idx_users_pathways",
    "idx_users_roles",
    "idx_user_profiles_user_id",
    "idx_user_profiles_level",
    "idx_user_profiles_total_xp",
    "idx_user_profiles_last_active",
    "idx_user_profiles_activity_score",
    "idx_user_profiles_level_xp",
    "idx_pathway_progress_user_id",
    "idx_pathway_progress_pathway_id",
    "idx_pathway_progress_level",
    "idx_pathway_progress_xp",
    "idx_pathway_progress_total_xp",
    "idx_pathway_progress_last_active",
    "idx_content_type",
    "idx_content_pathway",
    "idx_content_status",
    "idx_content_slug",
    "idx_content_author_id",
    "idx_content_published_at",
    "idx_events_pathway",
    "idx_events_start_date",
    "idx_events_status",
    "idx_events_active",
    "idx_events_type",
    "idx_events_host_id",
    "idx_events_pathway_start",
    "idx_event_registrations_event_id",
    "idx_event_registrations_user_id",
    "idx_event_registrations_status",
    "idx_achievements_pathway",
    "idx_achievements_rarity",
    "idx_achievements_category",
    "idx_achievements_active",
    "idx_user_achievements_user_id",
    "idx_user_achievements_achievement_id",
    "idx_user_achievements_earned_at",
    "idx_notifications_user_id",
    "idx_notifications_read",
    "idx_notifications_created_at",
    "idx_notifications_expires_at",
    "idx_notifications_type",
    "idx_notifications_user_unread",
    "idx_moderation_logs_moderator_id",
    "idx_moderation_logs_target_user_id",
    "idx_moderation_logs_action",
    "idx_moderation_logs_created_at",
    "idx_analytics_user_id",
    "idx_analytics_timestamp",
    "idx_analytics_event_type",
    "idx_analytics_pathway",
    "idx_discord_sync_log_sync_type",
    "idx_discord_sync_log_status",
    "idx_discord_sync_log_started_at",
    "idx_admin_logs_admin_id",
    "idx_admin_logs_target_type",
    "idx_admin_logs_created_at",
    "idx_content_search",
    "idx_content_active",
    "idx_pathway_stats_cache",
}

GUIDE_FUNCTIONS = {
    "calculate_level_from_xp",
    "get_next_level_xp",
    "award_achievement",
    "award_xp",
    "cleanup_expired_notifications",
    "increment_view_count",
    "is_staff",
    "has_role",
    "check_rate_limit",
    "update_updated_at_column",
}

RLS_TABLES = {"users", "user_profiles", "pathway_progress", "notifications", "content", "moderation_logs"}


async def catalog(conn) -> dict[str, list]:
    """Everything that makes up the public schema, in a comparable form."""
    queries = {
        "columns": """SELECT table_name, column_name, data_type, column_default, is_nullable, is_generated,
                             generation_expression
                      FROM information_schema.columns WHERE table_schema = 'public'""",
        "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                          FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "views": """SELECT c.relname, c.relkind::text, pg_get_viewdef(c.oid) FROM pg_class c
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')""",
        "functions": """SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid))
                        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace""",
        "triggers": """SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
                       WHERE NOT tgisinternal""",
        "policies": "SELECT tablename, policyname, cmd, roles::text[], qual, with_check FROM pg_policies",
        "rls": """SELECT relname, relrowsecurity FROM pg_class
                  WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'""",
        "comments": """SELECT c.relname, d.objsubid, d.description FROM pg_description d
                       JOIN pg_class c ON c.oid = d.objoid WHERE c.relnamespace = 'public'::regnamespace""",
        "data": """SELECT 'achievements', count(*)::text FROM achievements
                   UNION ALL SELECT 'server_stats', count(*)::text FROM server_stats
                   UNION ALL SELECT 'rank_titles', string_agg(title, ',' ORDER BY min_level) FROM rank_titles""",
    }
    result = {}
    for key, sql in queries.items():
        result[key] = sorted(tuple(str(v) for v in r.values()) for r in await conn.fetch(sql))
    return result


async def test_up_down_up_leaves_an_identical_schema(empty_dsn):
    conn = await connect(empty_dsn)
    try:
        first = await migrate.upgrade(conn)
        assert [m.version for m in first] == [m.version for m in migrate.discover()]
        before = await catalog(conn)
        undone = await migrate.downgrade(conn, to=0)
        assert len(undone) == len(first)
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert {r["tablename"] for r in tables} == {"migrations"}
        await migrate.upgrade(conn)
        assert await catalog(conn) == before
    finally:
        await conn.close()


async def test_up_twice_is_a_no_op_and_status_lists_everything(empty_dsn):
    conn = await connect(empty_dsn)
    try:
        await migrate.upgrade(conn, to=3)
        rows = await migrate.status(conn)
        assert [(r.version, r.state) for r in rows[:4]] == [
            (1, "applied"),
            (2, "applied"),
            (3, "applied"),
            (4, "pending"),
        ]
        await migrate.upgrade(conn)
        assert await migrate.upgrade(conn) == []
        assert all(r.state == "applied" for r in await migrate.status(conn))
        recorded = await conn.fetch("SELECT version, name, checksum, applied_at FROM migrations")
        on_disk = {m.version: m for m in migrate.discover()}
        assert {r["version"] for r in recorded} == set(on_disk)
        for r in recorded:
            assert r["checksum"] == on_disk[r["version"]].checksum
            assert r["name"] == on_disk[r["version"]].name
            assert r["applied_at"] is not None
    finally:
        await conn.close()


async def test_down_without_target_rolls_back_only_the_newest(db_dsn):
    conn = await connect(db_dsn)
    try:
        previous, newest = migrate.discover()[-2:]
        undone = await migrate.downgrade(conn)
        assert [m.version for m in undone] == [newest.version]
        # The one before it on disk (numbers need not be consecutive: branches take numbers apart).
        assert await conn.fetchval("SELECT max(version) FROM migrations") == previous.version
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(empty_dsn, tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy)
    conn = await connect(empty_dsn)
    try:
        await migrate.upgrade(conn, directory=copy)
        target = copy / "004_views.sql"
        target.write_text(target.read_text() + "\n-- sneaky edit\n")
        with pytest.raises(migrate.MigrationError, match="004_views was edited after it was applied"):
            await migrate.upgrade(conn, directory=copy)
        states = {r.version: r.state for r in await migrate.status(conn, directory=copy)}
        assert states[4] == "changed"
    finally:
        await conn.close()


async def test_a_database_migrated_with_an_earlier_text_of_a_revised_file_is_accepted(empty_dsn):
    """005 and 010 were revised for Supabase (auth.uid() compared as text); a database where their
    earlier texts ran migrates on, and its records take the revised checksums."""
    conn = await connect(empty_dsn)
    try:
        await migrate.upgrade(conn, to=20)
        for version, earlier in migrate.REVISED.items():
            (old,) = earlier
            await conn.execute("UPDATE migrations SET checksum = $2 WHERE version = $1", version, old)
        assert {r.state for r in await migrate.status(conn)} == {"applied", "pending"}
        ran = await migrate.upgrade(conn)
        assert ran and ran[0].version == 21
        on_disk = {m.version: m.checksum for m in migrate.discover()}
        for version in migrate.REVISED:
            assert (
                await conn.fetchval("SELECT checksum FROM migrations WHERE version = $1", version) == on_disk[version]
            )
        assert {r.state for r in await migrate.status(conn)} == {"applied"}
    finally:
        await conn.close()


async def test_a_failing_migration_is_rolled_back_whole(empty_dsn, tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy)
    (copy / "900_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    (copy / "900_broken.down.sql").write_text("DROP TABLE half_done;\n")
    conn = await connect(empty_dsn)
    try:
        with pytest.raises(migrate.MigrationError, match="900_broken failed"):
            await migrate.upgrade(conn, directory=copy)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT count(*) FROM migrations WHERE version = 900") == 0
        assert await conn.fetchval("SELECT count(*) FROM migrations") == len(migrate.discover())
    finally:
        await conn.close()


_DEFAULT_ACL = """SELECT defaclnamespace::regnamespace::text, defaclobjtype::text, defaclacl::text
                    FROM pg_default_acl WHERE defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                   ORDER BY 1, 2"""


async def test_a_run_leaves_the_roles_default_privileges_exactly_as_they_were(db_dsn, tmp_path: Path):
    """Whatever a migration does to the migrating role's default privileges (010 revokes the API roles'),
    they are as before once the run commits, grant options, PUBLIC and other schemas included, also when
    a migration fails; while it runs they are set aside, so its objects get only its own GRANTs."""
    copy = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy)
    (copy / "900_defaults.sql").write_text(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon, authenticated;\n"
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO service_role;\n"
        "CREATE TABLE made_by_900 (id int);\n"
        "CREATE FUNCTION made_by_900() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
    )
    (copy / "900_defaults.down.sql").write_text("DROP FUNCTION made_by_900();\nDROP TABLE made_by_900;\n")
    (copy / "901_broken.sql").write_text(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA elsewhere REVOKE ALL ON TYPES FROM PUBLIC;\nSELECT nope();\n"
    )
    (copy / "901_broken.down.sql").write_text("SELECT 1;\n")
    conn = await connect(db_dsn)
    try:
        await conn.execute(
            """CREATE SCHEMA elsewhere;
               ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO anon;
               ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT UPDATE ON TABLES TO anon WITH GRANT OPTION;
               ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO authenticated;
               ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO anon;
               ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO anon, authenticated;
               ALTER DEFAULT PRIVILEGES IN SCHEMA elsewhere GRANT USAGE ON TYPES TO PUBLIC, anon"""
        )
        before = [tuple(r) for r in await conn.fetch(_DEFAULT_ACL)]
        assert len(before) == 4 and "anon=arw*/" in before[-1][2]  # UPDATE with grant option
        with pytest.raises(migrate.MigrationError, match="901_broken failed"):
            await migrate.upgrade(conn, directory=copy)
        assert await conn.fetchval("SELECT max(version) FROM migrations") == 900
        assert [tuple(r) for r in await conn.fetch(_DEFAULT_ACL)] == before
        # made_by_900 got the built-in defaults and what 900 itself set: nothing of the role's defaults.
        granted = await conn.fetch(
            """SELECT r.rolname, p.privilege FROM (VALUES ('anon'), ('authenticated'), ('service_role')) r(rolname)
                CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p(privilege)
                WHERE has_table_privilege(r.rolname, 'made_by_900', p.privilege) ORDER BY 1, 2"""
        )
        assert [tuple(r) for r in granted] == [("service_role", "SELECT")]
        assert await conn.fetchval("SELECT proacl FROM pg_proc WHERE proname = 'made_by_900'") is None
        await migrate.downgrade(conn, directory=copy)
        assert await conn.fetchval("SELECT to_regclass('made_by_900')") is None
        assert [tuple(r) for r in await conn.fetch(_DEFAULT_ACL)] == before
    finally:
        await conn.close()


async def test_concurrent_runs_never_interleave(empty_dsn):
    conns = [await connect(empty_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.upgrade(c) for c in conns))
        applied_counts = sorted(len(r) for r in results)
        assert applied_counts == [0, 0, len(migrate.discover())]
        assert await conns[0].fetchval("SELECT count(*) FROM migrations") == len(migrate.discover())
    finally:
        for c in conns:
            await c.close()


def test_create_writes_the_next_numbered_pair(tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy)
    up, down = migrate.create("Add Event Reminders", directory=copy)
    next_version = migrate.discover()[-1].version + 1
    assert up.name == f"{next_version:03d}_add_event_reminders.sql"
    assert down.name == f"{next_version:03d}_add_event_reminders.down.sql"
    assert migrate.discover(copy)[-1].name == "add_event_reminders"
    with pytest.raises(migrate.MigrationError):
        migrate.create("!!!", directory=copy)


async def test_catalog_holds_the_guides_schema(conn):
    tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert tables >= GUIDE_TABLES
    indexes = {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname='public'")}
    assert indexes >= GUIDE_INDEXES
    views = {r["viewname"] for r in await conn.fetch("SELECT viewname FROM pg_views WHERE schemaname='public'")}
    assert views == {"user_leaderboard", "pathway_leaderboard", "active_events", "user_achievement_summary"}
    matviews = await conn.fetch("SELECT matviewname FROM pg_matviews WHERE schemaname='public'")
    assert {r["matviewname"] for r in matviews} == {"pathway_stats_cache"}
    functions = {
        r["proname"] for r in await conn.fetch("SELECT proname FROM pg_proc WHERE pronamespace='public'::regnamespace")
    }
    assert functions >= GUIDE_FUNCTIONS
    rls = await conn.fetch("SELECT relname FROM pg_class WHERE relnamespace='public'::regnamespace AND relrowsecurity")
    tables = await conn.fetch("SELECT relname FROM pg_class WHERE relnamespace='public'::regnamespace AND relkind='r'")
    # The guide's six, and (design.md fix 12) every other table too: deny by default.
    assert RLS_TABLES <= {r["relname"] for r in rls} == {r["relname"] for r in tables}
    uncommented = await conn.fetch(
        """SELECT c.relname FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'm')
             AND obj_description(c.oid, 'pg_class') IS NULL"""
    )
    assert [r["relname"] for r in uncommented] == []


async def test_seed_has_the_guides_achievements_and_the_stats_row(conn):
    rows = await conn.fetch("SELECT id, name, rarity, xp, requirements FROM achievements ORDER BY id")
    assert {r["id"] for r in rows} == {
        "gaming-initiate",
        "first-week",
        "tournament-winner",
        "lorebound-master",
        "productive-streak-30",
        "news-contributor",
        "grand-duke",
    }
    for r in rows:
        assert isinstance(r["requirements"], dict)
        assert {"type", "amount"} <= set(r["requirements"])
    assert await conn.fetchval("SELECT count(*) FROM server_stats WHERE id = 1") == 1

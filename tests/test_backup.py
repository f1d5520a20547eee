"""Backup and restore: a round trip through pg_dump and pg_restore on real PostgreSQL loses nothing, with
the tools of the server's own version, and a restore that cannot complete changes nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg
import pytest

from bot.__main__ import main
from bot.ops import backup as backups
from bot.ops.backup import (
    BackupError,
    Tools,
    _without_password,
    backup,
    embedded_bin,
    embedded_tools,
    find_tools,
    restore,
    tool_major,
    tools_for,
)
from db import users, xp
from db.pool import connect
from tests.factories import join

TABLES = ("users", "user_profiles", "xp_ledger", "moderation_logs", "achievements", "events", "community_settings")


async def snapshot(conn: asyncpg.Connection) -> dict[str, list]:
    result = {}
    for table in TABLES:
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")
        result[table] = [dict(r) for r in rows]
    return result


async def test_a_backup_restored_gives_back_every_row(db_dsn, tmp_path):
    conn = await connect(db_dsn)
    try:
        mapping = await users.upsert_members(
            conn, [users.MemberSnapshot(discord_id=str(10**17 + i), username=f"m{i}") for i in range(20)]
        )
        some = next(iter(mapping.values()))
        await join(conn, some, "gaming")
        await xp.award_xp(conn, some, "gaming", 250)
        await conn.execute(
            "INSERT INTO events (title, type, start_date) VALUES ('Night', 'community', NOW() + interval '1 day')"
        )
        await conn.execute("INSERT INTO community_settings (key, value) VALUES ('moderation.warn_points', '2')")
        before = await snapshot(conn)
        dump = await backup(db_dsn, tmp_path / "conclave.dump")
        assert dump.stat().st_size > 0 and not (tmp_path / "conclave.dump.partial").exists()
        # Things go wrong after the backup: rows lost, rows added.
        await conn.execute("DELETE FROM events")
        await conn.execute("DELETE FROM users WHERE discord_id LIKE '10000000000000000%'")
        await conn.execute("INSERT INTO community_settings (key, value) VALUES ('moderation.reasons', '[]')")
    finally:
        await conn.close()
    await restore(db_dsn, dump)
    conn = await connect(db_dsn)
    try:
        assert await snapshot(conn) == before
        # The restored database still enforces its rules: the ledger refuses a DELETE.
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute("DELETE FROM xp_ledger")
    finally:
        await conn.close()


async def test_a_bad_file_is_refused_and_changes_nothing(db_dsn, tmp_path):
    bad = tmp_path / "not-a-dump"
    bad.write_text("hello")
    conn = await connect(db_dsn)
    try:
        before = await conn.fetchval("SELECT count(*) FROM achievements")
        with pytest.raises(BackupError, match=r"not-a-dump is not a backup pg_restore \d+ can read \(pg_restore: "):
            await restore(db_dsn, bad)
        with pytest.raises(BackupError, match="is not a file"):
            await restore(db_dsn, tmp_path / "missing.dump")
        assert await conn.fetchval("SELECT count(*) FROM achievements") == before
    finally:
        await conn.close()


def test_the_commands_back_up_and_restore(db_dsn, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", db_dsn)
    monkeypatch.setenv("CONCLAVE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONCLAVE_CONFIG", str(tmp_path / "none.toml"))
    assert main(["backup", "--to", str(tmp_path / "b.dump")]) == 0
    assert f"backup written to {tmp_path / 'b.dump'}" in capsys.readouterr().out
    assert main(["restore", str(tmp_path / "b.dump")]) == 0
    assert main(["restore", str(tmp_path / "nothing.dump")]) == 1
    assert "restore failed, nothing was changed" in capsys.readouterr().err


async def server_major_of(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return conn.get_server_version().major
    finally:
        await conn.close()


async def test_backup_and_restore_use_the_tools_of_the_servers_own_major_version(db_dsn):
    tools = await tools_for(db_dsn)
    assert tools.major == await server_major_of(db_dsn)
    assert tool_major(Path(tools.pg_dump)) == tool_major(Path(tools.pg_restore)) == tools.major


def test_a_server_version_without_its_tools_says_what_to_install():
    with pytest.raises(BackupError) as refused:
        find_tools(99)
    said = str(refused.value)
    assert "apt install postgresql-client-99" in said and "PG_BIN_DIR" in said and "\n" not in said


def test_pg_bin_dir_must_hold_the_servers_version(tmp_path):
    with pytest.raises(BackupError, match="holds no pg_dump"):
        find_tools(15, tmp_path)
    bundled = embedded_tools()
    other = bundled.major - 1
    with pytest.raises(BackupError, match=f"holds pg_dump {bundled.major}, the server is PostgreSQL {other}"):
        find_tools(other, bundled.bin_dir)
    assert find_tools(bundled.major, bundled.bin_dir) == bundled


async def _changed_after_backup(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM events")
    await conn.execute("INSERT INTO community_settings (key, value) VALUES ('moderation.reasons', '[]')")


async def _with_rows(conn: asyncpg.Connection) -> None:
    mapping = await users.upsert_members(
        conn, [users.MemberSnapshot(discord_id=str(10**17 + i), username=f"m{i}") for i in range(50)]
    )
    for member in mapping.values():
        await join(conn, member, "gaming")
        await xp.award_xp(conn, member, "gaming", 25)
    await conn.execute(
        "INSERT INTO events (title, type, start_date) VALUES ('Night', 'community', NOW() + interval '1 day')"
    )


async def test_a_truncated_backup_fails_midway_and_changes_nothing(db_dsn, tmp_path):
    conn = await connect(db_dsn)
    try:
        await _with_rows(conn)
        dump = await backup(db_dsn, tmp_path / "conclave.dump")
        await _changed_after_backup(conn)
        before = await snapshot(conn)
        # The file ends with the last table's rows: the table of contents reads, every table is dropped
        # and created again and all but the last filled, then the file ends.
        cut = tmp_path / "cut.dump"
        cut.write_bytes(dump.read_bytes()[:-8])
        with pytest.raises(BackupError) as failed:
            await restore(db_dsn, cut)
        assert str(failed.value) == "pg_restore: could not read from input file: end of file"
        assert await snapshot(conn) == before
    finally:
        await conn.close()


async def test_a_restore_the_server_refuses_at_its_last_step_changes_nothing(db_dsn, admin_dsn, tmp_path):
    role = f"conclave_gone_{uuid.uuid4().hex[:8]}"
    admin = await connect(admin_dsn)
    conn = await connect(db_dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} NOLOGIN")
        await _with_rows(conn)
        await conn.execute(f"GRANT SELECT ON events TO {role}")
        dump = await backup(db_dsn, tmp_path / "conclave.dump")
        # The grant is the last thing a restore does (after every table and its rows): the role is gone.
        await conn.execute(f"REVOKE ALL ON events FROM {role}")
        await admin.execute(f"DROP ROLE {role}")
        await _changed_after_backup(conn)
        before = await snapshot(conn)
        with pytest.raises(BackupError, match=f'role "{role}" does not exist'):
            await restore(db_dsn, dump)
        assert await snapshot(conn) == before
    finally:
        await conn.close()
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_a_dump_by_a_newer_pg_dump_is_refused_by_an_older_server_and_changes_nothing(db_dsn, tmp_path):
    newer = embedded_tools()
    major = await server_major_of(db_dsn)
    if major >= newer.major:
        pytest.skip(f"needs a server older than PostgreSQL {newer.major} (TEST_DATABASE_URL)")
    conn = await connect(db_dsn)
    try:
        await _with_rows(conn)
        dump = await backup(db_dsn, tmp_path / "newer.dump", newer)  # pg_dump dumps older servers
        await _changed_after_backup(conn)
        before = await snapshot(conn)
        # With the server's own tools: refused before anything runs, saying where it would restore.
        with pytest.raises(BackupError, match=f"written by pg_dump {newer.major} .* PostgreSQL {newer.major} or newer"):
            await restore(db_dsn, dump)
        assert await snapshot(conn) == before
        # With the newer tools anyway: the server refuses their SQL (what `restore` did before), midway.
        with pytest.raises(BackupError, match="ERROR"):
            await restore(db_dsn, dump, newer)
        assert await snapshot(conn) == before
    finally:
        await conn.close()


def test_the_commands_say_in_one_line_what_is_wrong(db_dsn, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONCLAVE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONCLAVE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://conclave@127.0.0.1:1/conclave")
    assert main(["backup", "--to", str(tmp_path / "b.dump")]) == 1
    err = capsys.readouterr().err
    # The database is checked before any tool runs: one line naming the setting and what is wrong.
    assert err.startswith("conclave: DATABASE_URL: cannot connect to 127.0.0.1:1/conclave") and err.count("\n") == 1
    monkeypatch.setenv("DATABASE_URL", db_dsn)
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path))
    assert main(["backup", "--to", str(tmp_path / "b.dump")]) == 1
    err = capsys.readouterr().err
    assert err == f"conclave: backup failed: PG_BIN_DIR={tmp_path} holds no pg_dump that runs\n"
    assert not (tmp_path / "b.dump").exists()


def test_the_embedded_database_is_backed_up_with_the_embedded_tools(tmp_path, embedded_data_dir, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CONCLAVE_DATA_DIR", str(embedded_data_dir))
    monkeypatch.setenv("CONCLAVE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path))  # for an external server only
    bundled = embedded_tools().major
    assert main(["backup", "--to", str(tmp_path / "b.dump")]) == 0
    assert f"pg_dump {bundled})" in capsys.readouterr().out
    assert main(["restore", str(tmp_path / "b.dump")]) == 0
    assert f"restored from {tmp_path / 'b.dump'} (pg_restore {bundled})" in capsys.readouterr().out


async def test_a_restore_refused_at_its_last_step_changes_nothing_with_a_large_object(db_dsn, admin_dsn, tmp_path):
    """pg_restore's script wraps large objects in a BEGIN and COMMIT of its own, which committed the
    restore's one transaction half way (tables dropped and refilled, the default privileges set
    aside). Large objects are not the bot's: backups leave them out, and restores too."""
    role = f"conclave_gone_{uuid.uuid4().hex[:8]}"
    admin = await connect(admin_dsn)
    conn = await connect(db_dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} NOLOGIN")
        await _with_rows(conn)
        await conn.fetchval("SELECT lo_from_bytea(0, 'x'::bytea)")  # one large object anywhere in the database
        await conn.execute(f"GRANT SELECT ON events TO {role}")
        dump = await backup(db_dsn, tmp_path / "conclave.dump")
        await conn.execute(f"REVOKE ALL ON events FROM {role}")
        await admin.execute(f"DROP ROLE {role}")
        await _changed_after_backup(conn)
        before = await snapshot(conn)
        indexes = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
        with pytest.raises(BackupError, match=f'role "{role}" does not exist'):
            await restore(db_dsn, dump)
        assert await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'") == indexes
        assert await snapshot(conn) == before
    finally:
        await conn.close()
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_the_writers_error_is_reported_when_psql_printed_a_warning(db_dsn, tmp_path):
    """A pg_restore that fails after psql warned of something (a non-superuser's restore often
    does) is reported by its own error, not psql's warning."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(Path(embedded_bin()) / "psql", bin_dir / "psql")
    fake = bin_dir / "pg_restore"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "DO \\$\\$ BEGIN RAISE WARNING \'no privileges were granted for \\"public\\"\'; END \\$\\$;"\n'
        "sleep 0.5\n"
        "echo 'pg_restore: error: could not read from input file: end of file' >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    url, env = _without_password(db_dsn)
    with pytest.raises(BackupError) as failed:
        await backups._restore(
            Tools(bin_dir, 18), url, env, tmp_path / "x.dump", tmp_path / "x.list", "BEGIN;\n", "COMMIT;\n"
        )
    assert str(failed.value) == "pg_restore: could not read from input file: end of file"

"""Backup and restore: a round trip through pg_dump and pg_restore on real PostgreSQL loses nothing."""

from __future__ import annotations

import asyncpg
import pytest

from bot.__main__ import main
from bot.backup import BackupError, backup, restore
from db import users, xp
from db.pool import connect

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
        with pytest.raises(BackupError):
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

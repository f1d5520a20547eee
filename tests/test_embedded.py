"""The embedded server runs with the bot's settings (shared buffers sized to the machine, WAL between
checkpoints), applied once, overridable by ALTER SYSTEM, and never a reason it cannot start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from db import embedded
from db.embedded import EmbeddedServer


@contextmanager
def _running(pgdata: Path) -> Iterator[str]:
    server = EmbeddedServer(pgdata)
    try:
        yield server.start()
    finally:
        server.stop()


def _settings(uri: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(uri)
        try:
            rows = await conn.fetch(
                "SELECT name, current_setting(name) AS value FROM pg_settings "
                "WHERE name IN ('shared_buffers', 'max_wal_size')"
            )
            return {r["name"]: r["value"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_shared_buffers_are_a_quarter_of_the_memory_within_bounds():
    mb = 2**20
    assert "shared_buffers = '128MB'" in embedded.settings_text(256 * mb)  # a small VPS: the floor
    assert "shared_buffers = '512MB'" in embedded.settings_text(2048 * mb)
    assert "shared_buffers = '1024MB'" in embedded.settings_text(64 * 1024 * mb)  # the ceiling
    assert f"max_wal_size = '{embedded.MAX_WAL_SIZE}'" in embedded.settings_text(2048 * mb)


def test_a_new_cluster_runs_with_the_bots_settings_and_is_restarted_for_them_once(embedded_data_dir, caplog):
    pgdata = embedded_data_dir / "pgdata"
    expected = embedded.settings_text()
    wanted_buffers = expected.split("shared_buffers = '")[1].split("'")[0]
    caplog.set_level(logging.INFO, logger="db.embedded")
    with _running(pgdata) as uri:
        first = _settings(uri)
    assert first["shared_buffers"] == wanted_buffers.replace("1024MB", "1GB")
    assert first["max_wal_size"] == embedded.MAX_WAL_SIZE
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == expected
    assert sum("restarting embedded PostgreSQL" in r.getMessage() for r in caplog.records) == 1

    caplog.clear()
    with _running(pgdata) as uri:
        again = _settings(uri)
        # An admin's own choice (ALTER SYSTEM) is read after ours, and kept.
        asyncio.run(_alter(uri, "ALTER SYSTEM SET max_wal_size = '2GB'"))
    assert not [r for r in caplog.records if "restarting" in r.getMessage()]  # nothing new to apply
    assert again["max_wal_size"] == embedded.MAX_WAL_SIZE
    with _running(pgdata) as uri:
        assert _settings(uri)["max_wal_size"] == "2GB"


def test_settings_the_server_refuses_leave_it_running_with_its_defaults(embedded_data_dir, monkeypatch, caplog):
    pgdata = embedded_data_dir / "pgdata"
    monkeypatch.setattr(embedded, "settings_text", lambda memory=None: "shared_buffers = 'lots'\n")
    caplog.set_level(logging.INFO, logger="db.embedded")
    with _running(pgdata) as uri:
        running = _settings(uri)
    assert running["shared_buffers"] == "128MB"  # PostgreSQL's default
    refused = [r for r in caplog.records if "refused the bot's settings" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == embedded.REFUSED_TEXT

    caplog.clear()
    with _running(pgdata) as uri:  # the next start does not try them again
        assert _settings(uri)["shared_buffers"] == "128MB"
    assert not [r for r in caplog.records if "restarting" in r.getMessage() or "refused" in r.getMessage()]


async def _alter(uri: str, sql: str) -> None:
    conn = await asyncpg.connect(uri)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()

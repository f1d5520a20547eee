"""A real PgBouncer (Debian's package, /usr/sbin/pgbouncer) on 127.0.0.1 in front of the test server,
in session, transaction or statement mode: what Supabase's poolers are (Supavisor on 5432 and 6543)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PASSWORD = "pooler-secret"  # what clients give PgBouncer (auth_type md5); never the server's


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _upstream(dsn: str) -> dict[str, str]:
    """host, port, user, password of the test server (the embedded server's URIs carry a socket)."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    return {
        "host": parts.hostname or (query.get("host") or ["127.0.0.1"])[0],
        "port": str(parts.port or (query.get("port") or ["5432"])[0]),
        "user": parts.username or "postgres",
        "password": parts.password or "",
    }


class PgBouncer:
    """`with PgBouncer(admin_dsn, "transaction") as bouncer: bouncer.url_for(db_dsn)`."""

    def __init__(
        self,
        upstream_dsn: str,
        mode: str,
        *,
        port: int | None = None,
        pool_size: int = 20,
        query_wait_s: int = 30,
        round_robin: bool = False,
    ) -> None:
        self.upstream = _upstream(upstream_dsn)
        self.mode = mode
        self.port = port or free_port()
        self.pool_size = pool_size
        self.query_wait_s = query_wait_s  # how long a client waits for a server before PgBouncer gives up
        # server_round_robin = 1: idle server sessions are handed out oldest first (FIFO), not the one
        # released last (LIFO, PgBouncer's default), so consecutive transactions land on different ones.
        self.round_robin = round_robin
        self.dir = Path(tempfile.mkdtemp(prefix=f"pgbouncer-{mode}-"))
        self.log = self.dir / "pgbouncer.log"
        self.process: subprocess.Popen | None = None

    def url(self, database: str, *, password: str = PASSWORD) -> str:
        """A client's URL for `database` through this pooler."""
        user = quote(self.upstream["user"], safe="")
        return f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def url_for(self, dsn: str) -> str:
        """The same database as the server's `dsn`, through this pooler."""
        return self.url(urlsplit(dsn).path.lstrip("/"))

    def _run_as(self) -> list[str]:
        """PgBouncer refuses to run as root (CI is root): then it runs as the owner of the server's
        socket directory (the embedded server's own user), or nobody for a TCP server."""
        if os.geteuid() != 0:
            return []
        host = self.upstream["host"]
        owner = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
        return ["-u", owner]

    def start(self) -> PgBouncer:
        up = self.upstream
        server = f"host={up['host']} port={up['port']} user={up['user']}"
        if up["password"]:
            server += f" password={up['password']}"
        (self.dir / "users.txt").write_text(f'"{up["user"]}" "{PASSWORD}"\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
* = {server}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = md5
auth_file = {self.dir}/users.txt
pool_mode = {self.mode}
default_pool_size = {self.pool_size}
max_client_conn = 500
server_idle_timeout = 10
server_login_retry = 1
query_wait_timeout = {self.query_wait_s}
server_round_robin = {int(self.round_robin)}
"""
        )
        self.dir.chmod(0o755)
        for path in self.dir.iterdir():
            path.chmod(0o644)
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [PGBOUNCER, *self._run_as(), str(self.dir / "pgbouncer.ini")], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

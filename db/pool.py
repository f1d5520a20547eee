"""The asyncpg pool: one per process, with JSON codecs so JSON/JSONB columns arrive as Python objects;
where the database is, and how to reach it through a connection pooler (the probe at start)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import asyncpg

from db.embedded import EmbeddedServer, EmbeddedStartFailed, embedded_pgdata

log = logging.getLogger(__name__)

DATABASE_NAME = "conclave"


# How the bot reaches the server (DATABASE_POOL_MODE; README "Through a connection pooler"):
#   direct       a PostgreSQL server, or a pooler that passes startup parameters and keeps one server
#                session per client connection: as before (plan_cache_mode at connect, statement cache).
#   session      a session pooler that refuses startup parameters (PgBouncer pool_mode = session): one
#                server session per client connection, so plan_cache_mode is SET once the connection is
#                open (and again after the pool's RESET ALL).
#   transaction  a transaction pooler (PgBouncer pool_mode = transaction, Supavisor on 6543): each
#                transaction may run on another server session, so no named prepared statements
#                (statement_cache_size=0: unnamed ones, planned with their parameters every time, so
#                plan_cache_mode is moot), no startup parameters and no session state at all.
POOL_MODES = ("auto", "direct", "session", "transaction")
PoolMode = Literal["direct", "session", "transaction"]
SUPAVISOR_TRANSACTION_PORT = 6543  # Supabase's transaction pooler, whatever the probe saw
PROBE_WAIT_S = 2.0  # a client that holds no server session of its own waits for one this long
_PLAN_CACHE_MODE = "SET plan_cache_mode = force_custom_plan"


class DatabaseUnreachable(Exception):
    """The database named by DATABASE_URL (or DATABASE_DIRECT_URL) cannot be used; the message is one
    line for the admin and never holds the password."""


class UnusablePooler(DatabaseUnreachable):
    """A pooler in a mode the bot cannot work through (PgBouncer's statement mode), or a
    DATABASE_POOL_MODE that contradicts what the server is."""


async def init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _init_session(conn: asyncpg.Connection) -> None:
    await init_connection(conn)
    await conn.execute(_PLAN_CACHE_MODE)


async def _reset_session(conn: asyncpg.Connection) -> None:
    """asyncpg's reset (RESET ALL among others), then plan_cache_mode again."""
    await conn.execute(f"{conn.get_reset_query()}\n{_PLAN_CACHE_MODE};")


async def _reset_nothing(conn: asyncpg.Connection) -> None:
    """Through a transaction pooler the connection holds no server session to reset: asyncpg's
    RESET ALL and pg_advisory_unlock_all() would run on whichever session the pooler picked."""


def connect_options(pool_mode: PoolMode) -> dict[str, Any]:
    """asyncpg.connect's arguments for a mode."""
    if pool_mode == "direct":
        return {"server_settings": SERVER_SETTINGS}
    if pool_mode == "transaction":
        return {"statement_cache_size": 0}
    return {}


# Plan every statement with its actual parameters. asyncpg prepares statements and PostgreSQL then
# switches to a generic plan, which on skewed leaderboards (thousands of members tied at low XP) read
# whole tie groups: p99 of "my position" at 1M members went from 5.8 ms to under 4 ms with this.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


# A hung server (not one that refuses) must not hold a flush, a command or the stop forever: a
# connection attempt gives up after CONNECT_TIMEOUT_S, a statement after COMMAND_TIMEOUT_S (both
# then count as an outage). The longest statements the bot runs (start-up's rank index at 1M
# members, a flush of thousands of members) take a few seconds.
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout: float | None = COMMAND_TIMEOUT_S,
    pool_mode: PoolMode = "direct",
) -> asyncpg.Pool:
    extra: dict[str, Any] = {}
    if pool_mode == "session":
        extra["reset"] = _reset_session
    elif pool_mode == "transaction":
        extra["reset"] = _reset_nothing
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_session if pool_mode == "session" else init_connection,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=command_timeout,
        **connect_options(pool_mode),
        **extra,
    )


async def connect(dsn: str, *, pool_mode: PoolMode = "direct") -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, **connect_options(pool_mode))
    try:
        await (_init_session if pool_mode == "session" else init_connection)(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


def where(dsn: str) -> str:
    """host:port/database of a DSN, for messages (never the password)."""
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError:
        return "an unparsable URL"
    if parts.scheme not in ("postgres", "postgresql"):
        return "an unparsable URL"
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["localhost"])[0]
    port = port or int((query.get("port") or ["5432"])[0])
    return f"{host}:{port}/{parts.path.lstrip('/') or parts.username or ''}"


def _port(dsn: str) -> int | None:
    try:
        return urlsplit(dsn).port
    except ValueError:
        return None


def unreachable(error: BaseException, dsn: str, setting: str) -> DatabaseUnreachable:
    """A connection failure as one line: what the setting names, and why it cannot be used."""
    text = (str(error).strip().splitlines() or [""])[0]
    password = urlsplit(dsn).password if "://" in dsn else None
    if password:
        text = text.replace(password, "***")
    if isinstance(error, socket.gaierror):
        why = "the host name does not resolve (check the host in the URL)"
    elif isinstance(error, FileNotFoundError):
        why = "no server socket there (is the server up? is the socket directory right?)"
    elif isinstance(error, ConnectionRefusedError):
        why = "connection refused: nothing accepts connections there (is the server up? is the port right?)"
    elif isinstance(error, TimeoutError):
        why = f"no answer within {CONNECT_TIMEOUT_S:.0f} s (a firewall, or the wrong host or port?)"
    elif isinstance(error, asyncpg.InvalidPasswordError) or "password authentication failed" in text:
        why = f"{text} (check the user and password in the URL)"
    elif isinstance(error, asyncpg.InvalidCatalogNameError) or "does not exist" in text:
        why = f"{text} (check the database name at the end of the URL)"
    elif isinstance(error, (ValueError, asyncpg.ClientConfigurationError)):
        if _port(dsn) is None and "://" in dsn and where(dsn) == "an unparsable URL":
            text = "its port is not a number"
        return DatabaseUnreachable(f"{setting} is not a usable PostgreSQL URL ({text or type(error).__name__})")
    else:
        why = text or type(error).__name__
    return DatabaseUnreachable(f"{setting}: cannot connect to {where(dsn)}: {why}")


_CONNECT_ERRORS = (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _refuses_startup_settings(error: BaseException) -> bool:
    """PgBouncer: 'unsupported startup parameter: plan_cache_mode'."""
    return isinstance(error, asyncpg.PostgresError) and (
        "startup parameter" in str(error) or "plan_cache_mode" in str(error)
    )


PROBE_ROUNDS_MAX = 64  # B's statements that look for A's server session (see _lands_on)


async def _lands_on(b: asyncpg.Connection, pid: int) -> bool:
    """Whether B's statements, one transaction each, ever run on server session `pid` (A's first,
    which A, now idle, holds no longer through a transaction pooler). A pooler that hands out its idle
    sessions oldest first (PgBouncer's `server_round_robin = 1`) gives B every idle session in turn,
    so within as many statements as the database has sessions of this role B lands on A's; on a server
    or a session pooler never."""
    sessions = await b.fetchval(
        """SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND usename = current_user AND backend_type = 'client backend'"""
    )
    for _ in range(min(int(sessions or 0) + 1, PROBE_ROUNDS_MAX)):
        if await b.fetchval("SELECT pg_backend_pid()") == pid:
            return True
    return False


@dataclass(frozen=True)
class Detected:
    mode: PoolMode
    how: str  # why this mode, for doctor


async def detect_pool_mode(dsn: str, setting: str = "auto", *, name: str = "DATABASE_URL") -> Detected:
    """Which mode `dsn` needs (README "Through a connection pooler"). Two probe connections, A and B:
    A asks its server session's pid, B opens a transaction and asks its own, then A asks again. On a
    server or a session pooler each client keeps its session: A's pid twice, B's another. Through a
    transaction pooler B is handed the session A just gave back, or A (whose session B now holds)
    gets another or waits for one: sessions are shared. Where neither shows it (a pooler handing out
    idle sessions oldest first), B's next statements are handed each idle session in turn, A's among
    them (_lands_on). PgBouncer's statement mode refuses B's BEGIN.
    Port 6543 (Supabase's transaction pooler) is taken as transaction mode whatever the probe saw.
    Raises DatabaseUnreachable (one line) when the server cannot be used."""
    if setting not in POOL_MODES:
        raise DatabaseUnreachable(f"DATABASE_POOL_MODE={setting!r} is not one of {', '.join(POOL_MODES)}")
    options: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S, "statement_cache_size": 0}
    passes = True
    try:
        try:
            a = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS, **options)
        except asyncpg.PostgresError as error:
            if not _refuses_startup_settings(error):
                raise
            passes = False
            a = await asyncpg.connect(dsn, **options)
    except _CONNECT_ERRORS as error:
        raise unreachable(error, dsn, name) from None
    b: asyncpg.Connection | None = None
    try:
        try:
            first = await a.fetchval("SELECT pg_backend_pid()")
            b = await asyncpg.connect(dsn, **options, **({"server_settings": SERVER_SETTINGS} if passes else {}))
        except _CONNECT_ERRORS as error:
            raise unreachable(error, dsn, name) from None
        try:
            transaction = b.transaction()
            await transaction.start()
        except _CONNECT_ERRORS as error:
            if "statement pooling" in str(error) or "transaction blocks not allowed" in str(error):
                raise UnusablePooler(
                    f"{name} goes through a pooler in statement mode, where the bot's transactions cannot run: "
                    "use its transaction or session mode (PgBouncer: pool_mode = transaction)"
                ) from None
            raise unreachable(error, dsn, name) from None
        try:
            held = await b.fetchval("SELECT pg_backend_pid()")
            try:
                again = await a.fetchval("SELECT pg_backend_pid()", timeout=PROBE_WAIT_S)
            except TimeoutError:
                again = None  # A waited for a server session while B held one: it holds none of its own
                a.terminate()
        finally:
            with contextlib.suppress(*_CONNECT_ERRORS):
                await transaction.rollback()
        shared = held == first or again != first
        if not shared:
            try:
                shared = await _lands_on(b, first)
            except _CONNECT_ERRORS as error:
                raise unreachable(error, dsn, name) from None
    finally:
        for conn in (a, b):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(*_CONNECT_ERRORS):
                    await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT_S)
                if not conn.is_closed():
                    conn.terminate()
    if setting != "auto":
        if shared and setting in ("direct", "session"):
            raise UnusablePooler(
                f"DATABASE_POOL_MODE={setting}, but connections through {name} share server sessions (a "
                "transaction pooler): set DATABASE_POOL_MODE=transaction (or auto)"
            )
        if setting == "direct" and not passes:
            raise UnusablePooler(
                f"DATABASE_POOL_MODE=direct, but {name} refuses startup parameters (a pooler such as PgBouncer): "
                "set DATABASE_POOL_MODE=session or transaction (or auto)"
            )
        return Detected(setting, "set by DATABASE_POOL_MODE")  # type: ignore[arg-type]
    if shared:
        return Detected("transaction", "detected: connections share server sessions")
    if _port(dsn) == SUPAVISOR_TRANSACTION_PORT:
        return Detected("transaction", f"port {SUPAVISOR_TRANSACTION_PORT}, Supabase's transaction pooler")
    if not passes:
        return Detected("session", "detected: a pooler that refuses startup parameters, one session a connection")
    return Detected("direct", "detected: one server session a connection")


async def ensure_database(admin_dsn: str, name: str) -> None:
    """Create database `name` on the server if it does not exist yet."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # CREATE DATABASE takes no parameters; quote the identifier instead.
            await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}"')
    finally:
        await conn.close()


def with_database(uri: str, name: str) -> str:
    """The embedded server's URI for another database (its URIs carry the socket in the query)."""
    head, _, query = uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@dataclass
class Database:
    """Where the database is: DATABASE_URL (and DATABASE_DIRECT_URL, for the work that needs a session
    of its own), or the embedded server under the data directory; how to reach it once detected."""

    dsn: str
    embedded: EmbeddedServer | None = None
    direct_dsn: str | None = None  # DATABASE_DIRECT_URL: migrations, maintenance, backups
    pool_mode: PoolMode | None = None  # None until detect()
    direct_mode: PoolMode | None = None
    how: str = ""

    @property
    def kind(self) -> str:
        return "embedded" if self.embedded else "external"

    async def detect(self, setting: str = "auto") -> None:
        """Probe DATABASE_URL (and DATABASE_DIRECT_URL) for the mode to use; DatabaseUnreachable if
        either cannot be used."""
        if self.embedded is not None:
            self.pool_mode, self.how = "direct", "the embedded server"
            return
        found = await detect_pool_mode(self.dsn, setting)
        self.pool_mode, self.how = found.mode, found.how
        if self.direct_dsn:
            direct = await detect_pool_mode(self.direct_dsn, name="DATABASE_DIRECT_URL")
            self.direct_mode = direct.mode
            if direct.mode == "transaction":
                log.warning(
                    "DATABASE_DIRECT_URL goes through a transaction pooler (%s): use the direct connection "
                    "string or a session pooler for migrations and backups",
                    direct.how,
                )

    @property
    def mode(self) -> PoolMode:
        return self.pool_mode or "direct"

    @property
    def session_dsn(self) -> str:
        """Where migrations, maintenance and backups connect: DATABASE_DIRECT_URL when set."""
        return self.direct_dsn or self.dsn

    @property
    def session_mode(self) -> PoolMode:
        return (self.direct_mode or "direct") if self.direct_dsn else self.mode

    def describe(self) -> str:
        """One line for doctor: how each URL is reached."""
        if self.embedded is not None:
            return "the embedded server, direct"
        names = {"direct": "direct", "session": "a session pooler", "transaction": "a transaction pooler"}
        said = f"DATABASE_URL through {names[self.mode]} ({self.how})"
        if self.direct_dsn:
            said += f"; migrations, maintenance and backups through DATABASE_DIRECT_URL ({names[self.session_mode]})"
        elif self.mode == "transaction":
            said += "; migrations and maintenance through it too (no DATABASE_DIRECT_URL)"
        return said

    async def create_pool(self, **options: Any) -> asyncpg.Pool:
        return await create_pool(self.dsn, pool_mode=self.mode, **options)

    async def connect(self, *, session: bool = False) -> asyncpg.Connection:
        """A connection of its own (session: on DATABASE_DIRECT_URL when set); a failure is one line."""
        dsn, mode = (self.session_dsn, self.session_mode) if session else (self.dsn, self.mode)
        try:
            return await connect(dsn, pool_mode=mode)
        except _CONNECT_ERRORS as error:
            name = "DATABASE_DIRECT_URL" if session and self.direct_dsn else "DATABASE_URL"
            raise unreachable(error, dsn, name) from None

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


async def open_database(
    database_url: str | None,
    data_dir: Path,
    *,
    name: str = DATABASE_NAME,
    direct_url: str | None = None,
    pool_mode: str = "auto",
) -> Database:
    """Use DATABASE_URL when given (probed: DatabaseUnreachable, one line, when it cannot be used);
    otherwise start (or reuse) the embedded server and its database `name`."""
    if database_url:
        db = Database(dsn=database_url, direct_dsn=direct_url or None)
        await db.detect(pool_mode)
        return db
    server = EmbeddedServer(embedded_pgdata(data_dir))
    try:
        admin_uri = await asyncio.to_thread(server.start)
    except EmbeddedStartFailed as error:
        raise DatabaseUnreachable(str(error)) from None
    await ensure_database(admin_uri, name)
    db = Database(dsn=with_database(admin_uri, name), embedded=server)
    await db.detect()
    return db


async def recreate_database(dsn: str) -> None:
    """Drop and create again the database `dsn` names (the sandbox starts from a clean slate)."""
    head, _, query = dsn.partition("?")
    base, name = head.rsplit("/", 1)
    admin = f"{base}/postgres" + (f"?{query}" if query else "")
    conn = await asyncpg.connect(admin)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


@asynccontextmanager
async def database(
    database_url: str | None, data_dir: Path, *, direct_url: str | None = None, pool_mode: str = "auto"
) -> AsyncIterator[Database]:
    """open_database for the length of a command."""
    db = await open_database(database_url, data_dir, direct_url=direct_url, pool_mode=pool_mode)
    try:
        yield db
    finally:
        db.close()

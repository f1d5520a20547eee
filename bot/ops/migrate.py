"""`python -m bot migrate status | up | down | create`."""

from __future__ import annotations

import argparse
import sys

from bot.core.config import Config
from db import migrate
from db.pool import database


def _print_status(rows: list[migrate.MigrationStatus]) -> None:
    print(f"{'version':<8} {'name':<32} {'state':<8} applied at")
    for row in rows:
        when = row.applied_at.strftime("%Y-%m-%d %H:%M:%S %Z") if row.applied_at else "-"
        print(f"{row.version:03d}{'':<5} {row.name:<32} {row.state:<8} {when}")
    pending = sum(1 for r in rows if r.state == "pending")
    print(f"{len(rows) - pending} applied, {pending} pending")


async def run_migrate(config: Config, args: argparse.Namespace) -> int:
    if args.action == "create":
        try:
            up, down = migrate.create(args.name)
        except migrate.MigrationError as exc:
            print(f"conclave: {exc}", file=sys.stderr)
            return 1
        print(f"created {up}\ncreated {down}")
        return 0

    # DATABASE_DIRECT_URL when set (Supabase recommends the direct connection for migrations); the
    # run is one transaction either way, so it also works through a transaction pooler.
    async with database(data_dir=config.data_dir, **config.settings.database_options()) as db:
        conn = await db.connect(session=True)
        try:
            if args.action == "status":
                _print_status(await migrate.status(conn))
            elif args.action == "up":
                ran = await migrate.upgrade(conn, to=args.to)
                for m in ran:
                    print(f"applied {m.label}")
                print("nothing to apply: the schema is up to date" if not ran else f"{len(ran)} applied")
            elif args.action == "down":
                undone = await migrate.downgrade(conn, to=args.to)
                for m in undone:
                    print(f"rolled back {m.label}")
                print("nothing to roll back" if not undone else f"{len(undone)} rolled back")
        except migrate.MigrationError as exc:
            print(f"conclave: {exc}", file=sys.stderr)
            return 1
        finally:
            await conn.close()
    return 0

"""The member sync at scale: a guild of 100,000 members synced into the users table.

    python benchmarks/member_sync.py [--members 100000]

Prints the database time of (1) the first sync (every member new), (2) a re-sync where 10% changed
(nickname or roles), 1% left and 1% joined, and (3) a re-sync where nothing changed (no row written).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db import migrate, users  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402


def guild(count: int, *, offset: int = 0, changed: int = 0) -> list[users.MemberSnapshot]:
    joined = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        users.MemberSnapshot(
            discord_id=str(300000000000000000 + i),
            username=f"member{i}",
            global_name=f"Member {i}",
            nickname=f"nick{i}" + ("!" if i < changed else ""),
            roles=["1", "2"] if i % 3 else ["1"],
            joined_at=joined + timedelta(seconds=i),
        )
        for i in range(offset, offset + count)
    ]


async def timed(pool, members: list[users.MemberSnapshot]) -> tuple[float, users.SyncCounts]:
    async with pool.acquire() as conn:
        started = time.perf_counter()
        async with conn.transaction():
            counts = await users.sync_members(conn, members)
        return time.perf_counter() - started, counts


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-sync-") as tmp:
        database = await open_database(None, Path(tmp), name="sync")
        pool = await create_pool(database.dsn, min_size=1, max_size=2, command_timeout=None)
        async with pool.acquire() as conn:
            await migrate.upgrade(conn)
        n = args.members
        took, counts = await timed(pool, guild(n))
        print(f"first sync of {n:,} members: {took:.2f} s ({counts.new:,} new)")
        await pool.execute("ANALYZE users")
        # 1% left (the first ones), 1% joined (new ids at the end), 10% of the rest changed.
        moved = guild(n - n // 100, offset=n // 100, changed=n // 10 + n // 100) + guild(n // 100, offset=n)
        took, counts = await timed(pool, moved)
        print(
            f"re-sync, 10% changed, 1% left, 1% joined: {took:.2f} s "
            f"({counts.updated:,} updated, {counts.new:,} new, {counts.left:,} gone)"
        )
        took, counts = await timed(pool, moved)
        print(f"re-sync with nothing changed: {took:.2f} s ({counts.updated} rows written)")
        await pool.close()
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))

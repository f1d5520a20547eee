"""Achievements at scale: a set-based backfill over 100,000 members, and the evaluation that follows
an XP flush of 5,000 changed members.

    python benchmarks/achievements.py [--members 100000] [--changed 5000] [--samples 5]

Seeds a community in an embedded PostgreSQL (the long-tailed XP spread of the leaderboard benchmark;
1 in 50 has left), syncs the seeded achievements and the shipped example catalog, then:
(1) backfills "chatterbox" (1,000 messages) over every member: progress in one SQL statement, then
    the awards (each with its XP through the ledger and a notifications row) in chunks;
(2) evaluates 5,000 random members the way the bot does after a flush (their stats read, every rule
    in Python, changed progress written, awards made): the figure is the evaluation that follows a
    flush which wrote one message and its 20 XP for each of them; the first time the bot sees them
    (what they hold read from the database, their first progress rows written) is printed too.
The ingestion ratio with achievements on and off is printed by benchmarks/ingest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_seed import seed_members  # noqa: E402
from bot.core.catalog import load_catalog  # noqa: E402
from bot.core.community import CommunityConfig  # noqa: E402
from bot.core.config import Config, Settings  # noqa: E402
from bot.rules.xp import period_starts  # noqa: E402
from cogs.achievements.engine import AchievementEngine  # noqa: E402
from db import migrate  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402


async def changed_members(conn, count: int) -> list[str]:
    """`count` members picked at random among all (exactly `count`: not a table sample)."""
    rows = await conn.fetch("SELECT user_id FROM user_profiles ORDER BY random() LIMIT $1", count)
    return [r["user_id"] for r in rows]


class Wakeable:
    def wake(self) -> None:
        pass


class BenchBot:
    """What the achievement engine uses of the bot: its pool, configuration and outbox (no Discord)."""

    def __init__(self, pool, data_dir: Path) -> None:
        self.pool = pool
        self.outbox = Wakeable()
        self.home_guild = None
        self.guild_id = 1369197369161154000
        self.config = Config(settings=Settings(_env_file=None, conclave_data_dir=data_dir), community=CommunityConfig())


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-achievements-") as tmp:
        database = await open_database(None, Path(tmp), name="achievements")
        pool = await create_pool(database.dsn, min_size=2, max_size=4, command_timeout=None)
        async with pool.acquire() as conn:
            await migrate.upgrade(conn)
            week, month = period_starts(datetime.now(UTC), "UTC")
            started = time.perf_counter()
            await seed_members(conn, args.members, week_start=week, month_start=month)
            print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
        engine = AchievementEngine(BenchBot(pool, Path(tmp)))  # type: ignore[arg-type]
        await engine.sync_catalog(load_catalog(ROOT / "achievements.example.toml"))
        await engine.load()
        print(f"{len(engine.known)} active achievements (the 7 seeded and the example catalog)")

        started = time.perf_counter()
        stages: list[tuple[str, float]] = []

        async def report(text: str) -> None:
            stages.append((text, time.perf_counter() - started))

        written, awarded = await engine.backfill("chatterbox", report)
        total = time.perf_counter() - started
        progress_at = stages[0][1] if stages else total
        print(
            f"backfill of 'chatterbox' over {args.members:,} members: {total:.2f} s "
            f"(progress for every member in SQL {progress_at:.2f} s, {written:,} in-progress rows; "
            f"{awarded:,} awards with XP and notifications {total - progress_at:.2f} s)"
        )
        started = time.perf_counter()
        again_written, again_awarded = await engine.backfill("chatterbox")
        print(
            f"the same backfill again: {time.perf_counter() - started:.2f} s, "
            f"{again_awarded} awarded, {again_written} rows changed (safe to run twice)"
        )

        firsts, steady = [], []
        for _ in range(args.samples):
            async with pool.acquire() as conn:
                members = await changed_members(conn, args.changed)
            engine.pending.clear()
            started = time.perf_counter()
            first = await engine.evaluate(members)  # first sight: what they hold is read, progress written
            firsts.append((time.perf_counter() - started) * 1000)
            await engine.evaluate(members)  # what the first one's awards changed (achievement counts)
            # A flush wrote one message and its 20 XP for each (what a flush of 5,000 members does):
            await pool.execute(
                """UPDATE user_profiles SET message_count = message_count + 1, total_xp = total_xp + 20,
                          level = calculate_level_from_xp(total_xp + 20)
                   WHERE user_id = ANY($1::text[])""",
                members,
            )
            started = time.perf_counter()
            after = await engine.evaluate(members)
            steady.append((time.perf_counter() - started) * 1000)
        print(
            f"evaluation of {args.changed:,} changed members ({len(engine.known)} achievements each): "
            f"after a flush median {statistics.median(steady):.0f} ms, max {max(steady):.0f} ms "
            f"({after.progress_written:,} progress rows changed, {sum(len(v) for v in after.awarded.values()):,} "
            f"awards in the last); the first time they are seen (what they hold read, their progress rows "
            f"written: {first.progress_written:,}, awards {sum(len(v) for v in first.awarded.values()):,}) "
            f"median {statistics.median(firsts):.0f} ms"
        )
        await pool.close()
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=5_000)
    parser.add_argument("--samples", type=int, default=5)
    asyncio.run(main(parser.parse_args()))

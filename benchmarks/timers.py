"""Durable expiry at scale: 10,000 active temporary sanctions, each lifted once, on time.

    python benchmarks/timers.py [--sanctions 10000] [--spread 60] [--restart-at 0.5]

Seeds N temporary bans (cases, active sanctions and expiry timers, as /mod ban writes them) expiring
evenly over the next `spread` seconds, then runs the bot's TimerDispatcher with the real expiry
handler on an embedded PostgreSQL. Half way through, the dispatcher is stopped and a new one started
(a restart). Prints how long the first start took to be ready, the lateness of each lift (p50, p99,
max: the time from a sanction's expiry to the commit of its unban case), and checks that every
sanction was lifted exactly once (one unban case and one unban effect each, none missed).
Also times a /mod history page of a member with 5,000 cases.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.figures import percentile  # noqa: E402
from bot.core.community import CommunityConfig  # noqa: E402
from bot.core.config import Config, Settings  # noqa: E402
from bot.writes.timers import TimerDispatcher  # noqa: E402
from cogs.moderation.lifecycle import expiry_handler  # noqa: E402
from db import migrate, moderation, timers  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402

GUILD = "1369197369161154000"


class Wakeable:
    def wake(self) -> None:
        pass


class BenchBot:
    """What the dispatcher and the expiry handler use of the bot: its pool, identity and outbox."""

    def __init__(self, pool, bot_user_id: str) -> None:
        self.pool = pool
        self.outbox = Wakeable()
        self.fence = None  # running alone: no lease to check
        self.fenced = False
        self.user = "conclave-bot"
        self.identity = self
        self.config = Config(settings=Settings(_env_file=None), community=CommunityConfig())  # no modlog channel
        self._bot_user_id = bot_user_id

    async def user_id(self, _user) -> str:
        return self._bot_user_id

    async def wait_until_ready(self) -> None:
        return None


async def seed(conn, count: int, spread: float) -> datetime:
    mod = await conn.fetchval("INSERT INTO users (discord_id, username) VALUES ('1', 'mod') RETURNING id")
    start = datetime.now(UTC) + timedelta(days=1)  # moved to just after the seeding below
    async with conn.transaction():
        for i in range(count):
            target = await conn.fetchval(
                "INSERT INTO users (discord_id, username) VALUES ($1, $2) RETURNING id", str(10**17 + i), f"m{i}"
            )
            case = await moderation.open_case(
                conn, guild_id=GUILD, moderator_id=mod, target_user_id=target, action="ban", reason="bench"
            )
            expires = start + timedelta(seconds=spread * i / count)
            sanction, _ = await moderation.start_sanction(
                conn, case_id=case.id, guild_id=GUILD, target_discord_id=str(10**17 + i), kind="ban", expires_at=expires
            )
            await timers.schedule(conn, "sanction_expiry", expires, {"sanction_id": sanction.id})
    # Expiries from 2 s after the seeding, same spacing.
    shift = datetime.now(UTC) + timedelta(seconds=2) - start
    await conn.execute("UPDATE moderation_sanctions SET expires_at = expires_at + $1", shift)
    await conn.execute("UPDATE timers SET due_at = due_at + $1", shift)
    return mod


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-timers-") as tmp:
        database = await open_database(None, Path(tmp), name="timers")
        pool = await create_pool(database.dsn, min_size=2, max_size=4, command_timeout=None)
        async with pool.acquire() as conn:
            await migrate.upgrade(conn)
            started = time.perf_counter()
            mod = await seed(conn, args.sanctions, args.spread)
            print(
                f"seeded {args.sanctions:,} temporary bans in {time.perf_counter() - started:.1f} s, "
                f"expiring over {args.spread:.0f} s"
            )
        bot = BenchBot(pool, mod)

        def dispatcher() -> TimerDispatcher:
            d = TimerDispatcher(bot)  # type: ignore[arg-type]
            d.register("sanction_expiry", expiry_handler(bot))  # type: ignore[arg-type]
            return d

        started = time.perf_counter()
        first = dispatcher()
        first.start()
        await asyncio.sleep(0)
        ready = await timers.next_due_at(pool)  # what the dispatcher reads to know when to wake
        print(
            f"start-up: dispatcher ready with {args.sanctions:,} active sanctions in "
            f"{(time.perf_counter() - started) * 1000:.1f} ms (nothing is loaded into memory: "
            f"it reads the earliest due row, next at {ready:%H:%M:%S})"
        )
        await asyncio.sleep(2 + args.spread * args.restart_at)
        await first.stop()
        print(f"restart after {first.ran:,} lifts")
        second = dispatcher()
        second.start()
        deadline = time.monotonic() + args.spread + 120
        while time.monotonic() < deadline:
            pending, _ = await timers.pending_count(pool)
            if pending == 0:
                break
            await asyncio.sleep(0.2)
        await second.stop()
        rows = await pool.fetch(
            """SELECT s.expires_at, l.created_at AS lifted_at FROM moderation_sanctions s
               JOIN moderation_logs l ON l.id = s.ended_by_case"""
        )
        lateness = sorted((r["lifted_at"] - r["expires_at"]).total_seconds() * 1000 for r in rows)
        unbans = await pool.fetchval("SELECT count(*) FROM moderation_logs WHERE action = 'unban'")
        effects = await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'unban'")
        still = await pool.fetchval("SELECT count(*) FROM moderation_sanctions WHERE status = 'active'")
        print(
            f"lifted {len(rows):,} of {args.sanctions:,}: {unbans:,} unban cases, {effects:,} unban effects, "
            f"{still} still active (exactly once: {unbans == effects == args.sanctions and still == 0})"
        )
        print(
            f"lateness from expiry to the committed unban: p50 {statistics.median(lateness):.0f} ms, "
            f"p99 {percentile(lateness, 99):.0f} ms, max {lateness[-1]:.0f} ms"
        )

        async with pool.acquire() as conn:
            target = await conn.fetchval("SELECT id FROM users WHERE username = 'm0'")
            async with conn.transaction():
                for i in range(5000):  # one in ten a warning whose points still count
                    warn = i % 10 == 0
                    await moderation.open_case(
                        conn,
                        guild_id=GUILD,
                        moderator_id=mod,
                        target_user_id=target,
                        action="warn" if warn else "note",
                        reason=f"n{i}",
                        metadata={"points": 1, "points_expire_at": "2999-01-01T00:00:00+00:00"} if warn else None,
                    )
            await conn.execute("ANALYZE moderation_logs")
            numbers = [c.number for c in await moderation.history(conn, GUILD, target, limit=5000)]
            samples = []
            for i in range(1000):  # a whole page's reads: the cases (older or newer), points, both buttons
                cursor = numbers[(i * 37) % len(numbers)]
                older = i % 2 == 0
                started = time.perf_counter()
                page = await moderation.history_page(
                    conn, GUILD, target, before=cursor if older else None, after=None if older else cursor
                )
                samples.append((time.perf_counter() - started) * 1000)
            assert page.active_points == 500
            print(
                f"/mod history page with points and buttons (member with {len(numbers):,} cases): "
                f"p50 {statistics.median(samples):.2f} ms, p99 {percentile(samples, 99):.2f} ms"
            )
        await pool.close()
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sanctions", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--restart-at", type=float, default=0.5)
    asyncio.run(main(parser.parse_args()))

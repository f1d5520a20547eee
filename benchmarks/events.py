"""Events at scale: concurrent registrations against a capacity, and reminders on the durable timers.

    python benchmarks/events.py [--registrations 1000] [--places 100] [--reminders 10000] [--spread 30]

(1) 1,000 members register for an event with 100 places at the same moment, each through the bot's
    own registration transaction (the event's row lock, then register) on a pool of 20 connections:
    prints the wall time, the p50/p99 per registration, how many registered and waitlisted, whether
    anyone got in over capacity, and whether the waitlist is in the order the requests arrived.
(2) 10,000 reminders (one per event, one registrant each) due over 30 s: the dispatcher's start-up
    time (nothing is loaded into memory) and the lateness from due to the committed reminder DM in
    the outbox (p50/p99/max).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
from cogs.events.lifecycle import reminder_handler  # noqa: E402
from cogs.events.queue import EventQueues  # noqa: E402
from db import events, migrate, timers  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402


class Wakeable:
    def wake(self) -> None:
        pass


class BenchBot:
    """What the timers and the reminder handler use of the bot: its pool, configuration and outbox."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.outbox = Wakeable()
        self.fence = None  # running alone: no lease to check
        self.fenced = False
        self.config = Config(settings=Settings(_env_file=None), community=CommunityConfig())

    async def wait_until_ready(self) -> None:
        return None


async def seed_members(conn, count: int) -> list[str]:
    rows = await conn.fetch(
        """INSERT INTO users (discord_id, username, in_server)
           SELECT (200000000000000000 + g)::text, 'fan' || g, true FROM generate_series(1, $1) AS g
           RETURNING id""",
        count,
    )
    return [r["id"] for r in rows]


async def registrations(pool, members: list[str], places: int) -> None:
    async with pool.acquire() as conn:
        event = await events.create(
            conn, title="Big night", type="community", start_date=datetime.now(UTC) + timedelta(days=1),
            max_participants=places, status="upcoming",
        )  # fmt: skip
    arrived: dict[str, float] = {}
    took: list[float] = []
    served: list[float] = []
    queues = EventQueues()

    async def one(user_id: str) -> str:
        arrived[user_id] = time.perf_counter()
        async with queues.turn(event.id):  # as the bot does: in arrival order, under the row lock
            began = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                locked = await events.get(conn, event.id, lock=True)
                assert locked is not None
                result = await events.register(conn, event.id, user_id, locked.max_participants)
            served.append((time.perf_counter() - began) * 1000)
        took.append((time.perf_counter() - arrived[user_id]) * 1000)
        return result.status

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(u) for u in members))
    wall = time.perf_counter() - started
    registered = outcomes.count("registered")
    waitlisted = outcomes.count("waitlisted")
    row = await pool.fetchrow(
        "SELECT current_participants, cardinality(participants) AS n FROM events WHERE id = $1::uuid", event.id
    )
    queue = await pool.fetch(
        """SELECT user_id FROM event_registrations WHERE event_id = $1::uuid AND status = 'waitlisted'
           ORDER BY registered_at, id""",
        event.id,
    )
    order = [r["user_id"] for r in queue]
    by_arrival = sorted(order, key=lambda u: arrived[u])
    inversions = sum(1 for a, b in itertools.pairwise(order) if arrived[a] > arrived[b])
    print(
        f"{len(members):,} concurrent registrations for {places} places: {wall:.2f} s; each registration's own "
        f"transaction p50 {statistics.median(served):.1f} ms, p99 {percentile(sorted(served), 99):.1f} ms; from arrival "
        f"to answer (waiting in line included) p50 {statistics.median(took):.0f} ms, "
        f"p99 {percentile(sorted(took), 99):.0f} ms; "
        f"{registered} registered, {waitlisted} waitlisted, over capacity: {max(0, registered - places)}; "
        f"event row {row['current_participants']} / participants {row['n']}; "
        f"waitlist in arrival order: {order == by_arrival} ({inversions} adjacent inversions)"
    )


async def reminders(pool, members: list[str], count: int, spread: float) -> None:
    first_due = datetime.now(UTC) + timedelta(days=1)
    async with pool.acquire() as conn, conn.transaction():
        for i in range(count):
            due = first_due + timedelta(seconds=spread * i / count)
            event = await events.create(
                conn, title=f"E{i}", type="community", start_date=due + timedelta(hours=1), status="upcoming"
            )
            await conn.execute(
                "INSERT INTO event_registrations (event_id, user_id, status) VALUES ($1::uuid, $2, 'registered')",
                event.id,
                members[i % len(members)],
            )
            payload = {"event_id": event.id, "start": event.start_date.isoformat(), "before": "1h"}
            await timers.schedule(conn, "event_reminder", due, payload)
    shift = datetime.now(UTC) + timedelta(seconds=2) - first_due  # due from 2 s from now
    await pool.execute("UPDATE timers SET due_at = due_at + $1", shift)
    await pool.execute(
        """UPDATE events SET start_date = start_date + $1;
           UPDATE timers t SET payload = jsonb_set(t.payload, '{start}', to_jsonb(e.start_date))
           FROM events e WHERE e.id = (t.payload ->> 'event_id')::uuid""".replace(
            "$1", f"interval '{shift.total_seconds()} seconds'"
        )
    )
    bot = BenchBot(pool)
    started = time.perf_counter()
    dispatcher = TimerDispatcher(bot)  # type: ignore[arg-type]
    dispatcher.register("event_reminder", reminder_handler(bot))  # type: ignore[arg-type]
    dispatcher.start()
    await asyncio.sleep(0)
    print(
        f"start-up: dispatcher ready with {count:,} pending reminders in {(time.perf_counter() - started) * 1000:.1f} ms"
    )
    deadline = time.monotonic() + spread + 120
    while time.monotonic() < deadline:
        pending, _ = await timers.pending_count(pool)
        if pending == 0:
            break
        await asyncio.sleep(0.2)
    await dispatcher.stop()
    rows = await pool.fetch(
        """SELECT t.due_at, o.created_at FROM timers t
           JOIN outbox o ON o.dedupe_key LIKE 'event-reminder:' || (t.payload ->> 'event_id') || ':%'
           WHERE t.kind = 'event_reminder'"""
    )
    lateness = sorted((r["created_at"] - r["due_at"]).total_seconds() * 1000 for r in rows)
    print(
        f"reminders sent {len(rows):,} of {count:,} (DMs queued once each: "
        f"{await pool.fetchval('SELECT count(*) FROM outbox WHERE kind = $1', 'dm'):,}); lateness from due to the "
        f"committed DM: p50 {statistics.median(lateness):.0f} ms, p99 {percentile(lateness, 99):.0f} ms, "
        f"max {lateness[-1]:.0f} ms"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-events-") as tmp:
        database = await open_database(None, Path(tmp), name="events")
        pool = await create_pool(database.dsn, min_size=2, max_size=20, command_timeout=None)
        async with pool.acquire() as conn:
            await migrate.upgrade(conn)
            members = await seed_members(conn, args.registrations)
        await registrations(pool, members, args.places)
        await reminders(pool, members, args.reminders, args.spread)
        await pool.close()
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registrations", type=int, default=1000)
    parser.add_argument("--places", type=int, default=100)
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=30.0)
    asyncio.run(main(parser.parse_args()))

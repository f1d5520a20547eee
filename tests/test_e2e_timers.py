"""The durable timer dispatcher on real PostgreSQL with the bot running: it sleeps until the earliest
timer, wakes for a sooner one, runs each once (across restarts, downtime and a second dispatcher), and
retries a failing handler without holding up the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.writes.timers import TimerDispatcher
from db import notifications, timers
from tests.test_e2e_core import wait_until


def register_note(bot, seen: list) -> None:
    """A handler that writes a row in the timer's transaction (a notification for the member)."""

    async def note(conn, timer):
        seen.append(timer.payload["text"])
        await notifications.notify(conn, timer.payload["user_id"], timer.payload["text"])

    bot.timers.register("test_note", note)


async def user_of(bot, harness, name: str) -> str:
    return await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", harness.member(name).id)


async def notes(bot, user_id: str) -> list[str]:
    rows = await bot.pool.fetch("SELECT title FROM notifications WHERE user_id = $1 ORDER BY created_at", user_id)
    return [r["title"] for r in rows]


async def test_the_dispatcher_sleeps_until_the_earliest_and_wakes_for_a_sooner_one(sandbox):
    bot, seen = sandbox.bot, []
    register_note(bot, seen)
    alice = await user_of(bot, sandbox, "alice")
    now = datetime.now(UTC)
    await timers.schedule(bot.pool, "test_note", now + timedelta(minutes=10), {"user_id": alice, "text": "later"})
    bot.timers.wake()
    await asyncio.sleep(0.2)
    await timers.schedule(bot.pool, "test_note", now + timedelta(seconds=0.3), {"user_id": alice, "text": "soon"})
    bot.timers.wake()

    async def ran():  # committed (the handler runs before its transaction commits)
        return await notes(bot, alice) == ["soon"]

    await wait_until(ran, timeout=3)
    assert seen == ["soon"]
    assert await timers.pending_count(bot.pool) == (1, 0)  # "later" still waits


async def test_a_timer_due_during_downtime_runs_once_after_the_restart(harness, monkeypatch):
    # The test's handler is registered after start: the test runs the dispatcher by hand.
    monkeypatch.setattr(TimerDispatcher, "start", lambda self: None)
    bot = await harness.start_bot()
    alice = await user_of(bot, harness, "alice")
    # Due five minutes ago, while the bot was down (as a sanction's expiry would be).
    past = datetime.now(UTC) - timedelta(minutes=5)
    await timers.schedule(bot.pool, "test_note", past, {"user_id": alice, "text": "missed while down"})
    await harness.stop_bot()

    ran = []
    for _ in range(2):  # two restarts: it runs at the first, never again
        bot = await harness.start_bot()
        seen: list = []
        register_note(bot, seen)
        ran.append(await bot.timers.run_due())
        await harness.stop_bot()
    bot = await harness.start_bot()
    assert ran == [1, 0]
    assert await notes(bot, alice) == ["missed while down"]


async def test_two_dispatchers_on_one_database_run_each_timer_once(sandbox):
    bot = sandbox.bot
    await bot.timers.stop()
    alice = await user_of(bot, sandbox, "alice")
    due = datetime.now(UTC) - timedelta(seconds=1)
    async with bot.pool.acquire() as conn, conn.transaction():
        for i in range(60):
            await timers.schedule(conn, "test_note", due, {"user_id": alice, "text": f"n{i}"})
    first, second = TimerDispatcher(bot), TimerDispatcher(bot)
    seen: list = []
    for dispatcher in (first, second):
        dispatcher.register("test_note", _noting(seen))
    ran = await asyncio.gather(first.run_due(), second.run_due())
    assert sum(ran) == 60
    assert sorted(await notes(bot, alice)) == sorted(f"n{i}" for i in range(60))


def _noting(seen):
    async def note(conn, timer):
        seen.append(timer.payload["text"])
        await notifications.notify(conn, timer.payload["user_id"], timer.payload["text"])

    return note


async def test_a_failing_handler_is_retried_and_holds_up_no_one(sandbox):
    bot, seen = sandbox.bot, []
    register_note(bot, seen)
    alice = await user_of(bot, sandbox, "alice")

    async def broken(conn, timer):
        await notifications.notify(conn, alice, "written, then rolled back")
        raise RuntimeError("the handler has a bug")

    bot.timers.register("test_broken", broken)
    due = datetime.now(UTC) - timedelta(seconds=1)
    await timers.schedule(bot.pool, "test_broken", due, {})
    await timers.schedule(bot.pool, "test_note", due, {"user_id": alice, "text": "after the broken one"})
    bot.timers.wake()

    async def ran():  # committed, and the broken one's retry recorded
        attempts = await bot.pool.fetchval("SELECT attempts FROM timers WHERE kind = 'test_broken'")
        return await notes(bot, alice) == ["after the broken one"] and attempts == 1

    await wait_until(ran, timeout=3)
    row = await bot.pool.fetchrow("SELECT status, attempts, last_error, due_at FROM timers WHERE kind = 'test_broken'")
    assert row["status"] == "pending" and row["attempts"] == 1 and "the handler has a bug" in row["last_error"]
    assert row["due_at"] > datetime.now(UTC)  # retried later, with backoff
    assert await notes(bot, alice) == ["after the broken one"]  # the broken handler's write rolled back

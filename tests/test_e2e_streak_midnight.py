"""A stop or an outage across midnight writes two days of a member's grants in one flush: their
streak carries on through both days (found in review: it restarted at 1)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.writes.journal import Journal
from cogs.xp.pending import Pending
from tests.xp_support import handled, start


async def test_a_journal_spanning_midnight_keeps_the_streak(harness):
    bot = await start(harness)
    alice = harness.member("alice")
    await alice.slash("pathway join", pathway="gaming")
    alice.say("a gaming message", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 1)
    user_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    today = datetime.now(UTC).date()
    # Streak of 4 up to the day before yesterday.
    await bot.pool.execute(
        "UPDATE pathway_progress SET streak_days = 4, last_xp_date = $2 WHERE user_id = $1 AND pathway_id = 'gaming'",
        user_id,
        today - timedelta(days=2),
    )
    await harness.stop_bot()
    midnight = datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC) + timedelta(days=1)
    # Kept by a stop during an outage that began before midnight: one grant each side of it.
    g1 = Pending(
        int(alice.id), None, "message", "111111111", "gaming", 20, midnight - timedelta(minutes=1), None, user_id
    )
    g2 = Pending(
        int(alice.id), None, "message", "222222222", "gaming", 20, midnight + timedelta(minutes=1), None, user_id
    )
    Journal(harness.data_dir / "journal" / "xp").spill([g1.record(), g2.record()])
    bot = await start(harness)
    await bot.flush_all()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while bot.doors.xp.engine.journal.files():
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    row = await bot.pool.fetchrow(
        "SELECT streak_days, last_xp_date FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'", user_id
    )
    # XP on day-2 (streak 4), day-1 and today: 6.
    assert (row["streak_days"], row["last_xp_date"]) == (6, today), dict(row)

"""A process that lost the lease runs none of its periodic jobs with side effects (the member sync,
the events' reconcile and mirror, the voice tick, the achievements' jobs, maintenance...): fenced,
it neither writes for them nor reaches Discord; only its flushes still write what it counted while
it led (README "Standby and failover")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.sandbox.harness import Harness

SYNC_ROWS = "SELECT count(*) FROM discord_sync_log WHERE sync_type = 'members'"


def every_job_due_now(bot) -> None:
    for job in bot.scheduler.get_jobs():
        job.modify(next_run_time=datetime.now(UTC))


async def wait_for(check, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"{what} did not happen within {timeout:.0f} s"
        await asyncio.sleep(0.05)


async def test_a_fenced_bot_runs_no_scheduled_job_with_side_effects(sandbox: Harness, conn):
    bot = sandbox.bot
    assert bot is not None
    synced = await conn.fetchval(SYNC_ROWS)
    calls = len(sandbox.standin.calls)

    # While it leads, every job due now runs: the member sync writes its row, the mirror asks Discord.
    every_job_due_now(bot)

    async def ran() -> bool:
        return await conn.fetchval(SYNC_ROWS) == synced + 1 and len(sandbox.standin.calls) > calls

    await wait_for(ran, "the jobs running")
    await asyncio.sleep(0.5)  # the jobs' runs end
    synced, calls = await conn.fetchval(SYNC_ROWS), len(sandbox.standin.calls)

    bot.fence_now()  # what the runner does once the lease is lost
    every_job_due_now(bot)
    await asyncio.sleep(1.5)
    assert await conn.fetchval(SYNC_ROWS) == synced
    assert [f"{c.method} {c.path}" for c in sandbox.standin.calls[calls:]] == []

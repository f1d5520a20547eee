"""The durable timer dispatcher (the RoboDanny pattern): one task sleeps until the earliest pending
timer row, is woken when a sooner one is scheduled, and runs each due timer once: the handler's
writes and the timer's completion commit together, under a row lock other dispatchers skip. A
restart or downtime makes timers late, never lost. Reused by every feature that must act at a time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from bot.writes.worker import Worker
from bot.writes.write_path import WriteHealth
from db import timers
from db.faults import is_outage, one_line

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

# A handler runs inside the timer's transaction: its writes commit with the timer's completion.
Handler = Callable[[asyncpg.Connection, timers.Timer], Awaitable[None]]

MAX_ATTEMPTS = 8
# The longest sleep: timers scheduled by another process (the website, a second bot) are seen within it.
MAX_SLEEP_S = 30.0
RETRY_BASE_S = 2.0


class TimerDispatcher(Worker):
    task_name = "timer-dispatcher"

    def __init__(self, bot: ConclaveBot) -> None:
        super().__init__()
        self.bot = bot
        self._handlers: dict[str, Handler] = {}
        self.health = WriteHealth("timers")
        self.ran = 0  # timers run since start

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def _run(self) -> None:
        await self.bot.wait_until_ready()  # handlers act on the guild
        while not self._stopping:
            self._wake.clear()  # before looking: a wake from now on is not missed
            try:
                await self.run_due()
                next_at = await timers.next_due_at(self.bot.pool)
                self.health.succeeded(0)
            except Exception as error:
                if is_outage(error):
                    self.health.failed(error)
                else:
                    log.exception("timer dispatcher failed unexpectedly; retrying")
                next_at = None
            wait = MAX_SLEEP_S if next_at is None else (next_at - datetime.now(UTC)).total_seconds()
            await self._sleep(min(MAX_SLEEP_S, wait))

    async def run_due(self) -> int:
        """Run every timer due now, each in its own transaction; returns how many ran."""
        ran = 0
        while not self._stopping and not self.bot.fenced:
            async with self.bot.pool.acquire() as conn, conn.transaction():
                timer = await timers.claim_due(conn, self.bot.fence)
                if timer is None:
                    return ran
                handler = self._handlers.get(timer.kind)
                try:
                    if handler is None:  # its feature is not loaded (yet): retried, then failed
                        raise LookupError(f"no handler for timers of kind {timer.kind!r}")
                    async with conn.transaction():  # a savepoint: a failed handler's writes roll back alone
                        await handler(conn, timer)
                except Exception as error:
                    if is_outage(error):
                        raise
                    await self._retry_or_fail(conn, timer, error)
                    continue
                await timers.mark_done(conn, timer.id)
            ran += 1
            self.ran += 1
            self.bot.outbox.wake()  # handlers queue their Discord effects
        return ran

    async def _retry_or_fail(self, conn: asyncpg.Connection, timer: timers.Timer, error: Exception) -> None:
        reason = one_line(error)
        if timer.attempts + 1 >= MAX_ATTEMPTS:
            log.error("timer %s (%s) failed for good after %d attempts: %s", timer.id, timer.kind, MAX_ATTEMPTS, reason)
            await timers.mark_failed(conn, timer.id, error=reason)
        else:
            delay = RETRY_BASE_S * 2**timer.attempts
            log.warning("timer %s (%s) failed (%s); retry in %.0f s", timer.id, timer.kind, reason, delay)
            await timers.mark_retry(conn, timer.id, delay_seconds=delay, error=reason)

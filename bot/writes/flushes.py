"""The bot's batched writes on one schedule: each buffer's flush at its own interval, never two side by
side (one lock: two batched UPDATEs of the same members' rows can deadlock, as seen under load), every
one of them once more at a stop within a budget, and what the stop could not write kept on disk."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.core.locks import FLUSHES, RankedLock

log = logging.getLogger(__name__)


class Flush(Protocol):
    """Writes a buffer; `everything`: also what it writes less often (a stop, a test's flush_all)."""

    def __call__(self, *, everything: bool = False) -> Awaitable[object]: ...


# Keeps what a flush could not write on local disk; returns a description of what it kept, or None.
Spill = Callable[[], str | None]

# At a stop: a cancelled flush gets this long to put back what it took (one on a hung database
# never does; its spill takes the batch instead), and the lock this long even past the deadline.
CANCEL_GRACE_S = 0.2
LOCK_GRACE_S = 0.1


class Flushes:
    def __init__(self, default_every: float) -> None:
        self.default_every = default_every
        self.entries: list[tuple[str, Flush]] = []
        self.spills: dict[str, Spill] = {}
        self.every: dict[str, float] = {}
        self.due: dict[str, float] = {}
        self.lock = RankedLock("flush schedule", FLUSHES)
        self.observe: Callable[[str, float], None] | None = None  # e.g. the metrics' flush latency

    def register(self, name: str, flush: Flush, *, every: float | None = None, spill: Spill | None = None) -> None:
        self.entries.append((name, flush))
        if spill is not None:
            self.spills[name] = spill
        self.every[name] = every or self.default_every
        self.due[name] = 0.0

    def unregister(self, name: str) -> None:
        self.entries[:] = [(n, f) for n, f in self.entries if n != name]
        self.spills.pop(name, None)

    async def run_all(self) -> None:
        """Every flush now, with everything (a test's flush_all); each next due one interval later."""
        async with self.lock:
            for name, flush in self.entries:
                await self._timed(name, flush, everything=True)

    async def run_now(self, names: set[str]) -> None:
        """The named flushes now, with everything (a command about to show what they hold); each next
        due one interval later."""
        async with self.lock:
            for name, flush in self.entries:
                if name in names:
                    await self._timed(name, flush, everything=True)

    async def run_due(self) -> None:
        """The flushes whose interval has passed (the scheduler calls this a few times a second)."""
        now = time.monotonic()
        async with self.lock:
            for name, flush in self.entries:
                if now < self.due[name]:
                    continue
                try:
                    await self._timed(name, flush)
                except Exception:
                    # Outages and refused rows are handled inside each flush; this is a bug.
                    log.exception("periodic flush %s failed unexpectedly; it will be retried", name)

    async def _timed(self, name: str, flush: Flush, *, everything: bool = False) -> None:
        """One flush, under the lock: the next periodic one due an interval after it started (one
        run now, for a command or a test, stands for the periodic one), its latency observed."""
        started = time.perf_counter()
        self.due[name] = time.monotonic() + self.every[name]
        await flush(everything=everything)
        if self.observe is not None:
            self.observe(name, time.perf_counter() - started)

    async def when_idle(self, action: Callable[[], None], deadline: float) -> None:
        """Run `action` (stopping the scheduler, which cancels running jobs) once a flush in progress
        has finished, or at `deadline` (the loop's clock) if it hangs."""
        held = await self._lock_by(deadline)
        try:
            action()
        finally:
            if held:
                self.lock.release()

    async def _lock_by(self, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(LOCK_GRACE_S, deadline - loop.time())):
                await self.lock.acquire()  # in this task, so the lock order sees it held
        except TimeoutError:
            return False
        return True

    async def final(self, deadline: float) -> list[str]:
        """Every flush once more, all of them by one `deadline` (the loop's clock); then, whatever
        happened (a flush cut short, even this stop cancelled), every spill: what is not written is
        kept in the local journal (replayed at the next start). Returns what was kept, one line each.

        A flush still running at the deadline is cancelled and not waited for: on a hung database
        (no answer, no refusal) a cancelled flush cannot even roll back, and the stop must end
        inside its budget; its spill takes the batch it had not written (bot.writes.write_path.InFlight).
        A periodic flush that hangs holds the lock: then none runs again, they are only spilled."""
        loop = asyncio.get_running_loop()
        held = await self._lock_by(deadline)
        try:
            if not held:
                log.warning("a flush is hung (database not answering?): keeping its writes on disk instead")
            for name, flush in self.entries if held else ():
                left = deadline - loop.time()
                if left <= 0:
                    log.warning("final flush %s skipped: the stop's flush budget is spent", name)
                    continue
                task = asyncio.ensure_future(flush(everything=True))
                done, _ = await asyncio.wait({task}, timeout=left)
                if not done:
                    task.cancel()
                    await asyncio.wait({task}, timeout=CANCEL_GRACE_S)  # one that can unwind puts its batch back
                    log.warning("final flush %s did not finish in the stop's budget (database hung?)", name)
                elif not task.cancelled() and task.exception() is not None:
                    log.error("final flush %s failed unexpectedly", name, exc_info=task.exception())
        finally:
            kept = self._spill_all()
            if held:
                self.lock.release()
        return kept

    def _spill_all(self) -> list[str]:
        kept: list[str] = []
        for name, _ in self.entries:
            spill = self.spills.get(name)
            if spill is None:
                continue
            try:
                description = spill()
            except OSError as error:
                log.error("could not keep %s's unwritten data on disk: %s; it is lost", name, error)
                kept.append(f"{name}: unwritten data LOST ({error})")
                continue
            if description:
                kept.append(description)
        return kept

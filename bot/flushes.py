"""The bot's batched writes on one schedule: each buffer's flush at its own interval, never two side by
side (one lock: two batched UPDATEs of the same members' rows can deadlock, as seen under load), every
one of them once more at a stop within a budget, and what the stop could not write kept on disk."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Flush(Protocol):
    """Writes a buffer; `everything`: also what it writes less often (a stop, a test's flush_all)."""

    def __call__(self, *, everything: bool = False) -> Awaitable[object]: ...


# Keeps what a flush could not write on local disk; returns a description of what it kept, or None.
Spill = Callable[[], str | None]


class Flushes:
    def __init__(self, default_every: float) -> None:
        self.default_every = default_every
        self.entries: list[tuple[str, Flush]] = []
        self.spills: dict[str, Spill] = {}
        self.every: dict[str, float] = {}
        self.due: dict[str, float] = {}
        self.lock = asyncio.Lock()
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
        """Every flush now, with everything (a test's flush_all)."""
        async with self.lock:
            for _, flush in self.entries:
                await flush(everything=True)

    async def run_now(self, names: set[str]) -> None:
        """The named flushes now, with everything (a command about to show what they hold)."""
        async with self.lock:
            for name, flush in self.entries:
                if name in names:
                    await flush(everything=True)

    async def run_due(self) -> None:
        """The flushes whose interval has passed (the scheduler calls this a few times a second)."""
        now = time.monotonic()
        async with self.lock:
            for name, flush in self.entries:
                if now < self.due[name]:
                    continue
                self.due[name] = now + self.every[name]
                started = time.perf_counter()
                try:
                    await flush()
                except Exception:
                    # Outages and refused rows are handled inside each flush; this is a bug.
                    log.exception("periodic flush %s failed unexpectedly; it will be retried", name)
                    continue
                if self.observe is not None:
                    self.observe(name, time.perf_counter() - started)

    async def when_idle(self, action: Callable[[], None], budget: float) -> None:
        """Run `action` (stopping the scheduler, which cancels running jobs) once a flush in progress
        has finished, or after `budget` seconds if it hangs."""
        try:
            await asyncio.wait_for(self.lock.acquire(), timeout=budget)
        except TimeoutError:
            held = False
        else:
            held = True
        try:
            action()
        finally:
            if held:
                self.lock.release()

    async def final(self, budget: float) -> list[str]:
        """Every flush once more, each within `budget`; what an outage leaves unwritten is spilled to
        the local journal (replayed at the next start). Returns what was kept, one line each."""
        kept: list[str] = []
        async with self.lock:
            for name, flush in self.entries:
                try:
                    await asyncio.wait_for(flush(everything=True), timeout=budget)
                except TimeoutError:
                    log.warning("final flush %s took longer than %.0f s (database hung?)", name, budget)
                except Exception:
                    log.exception("final flush %s failed unexpectedly", name)
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

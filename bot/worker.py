"""A background task of the bot that sleeps until woken or due (the outbox worker, the timers)."""

from __future__ import annotations

import asyncio
import contextlib


class Worker:
    """start() runs `_run` as a task; wake() interrupts its sleep; stop() ends it (an operation cut
    short rolls back with its transaction and stays pending for the next start)."""

    task_name = "worker"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    def wake(self) -> None:
        """Call after committing a transaction that gave the worker something to do."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sleep(self, seconds: float) -> None:
        """Until woken, or `seconds` at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, seconds))

    async def _run(self) -> None:
        raise NotImplementedError

"""A background task of the bot that sleeps until woken or due (the outbox worker, the timers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

# A stop waits this long for the task to end: one cut short in a statement on a hung database cannot
# even roll back (no answer), and the stop must stay in its budget; the row stays pending anyway.
STOP_WAIT_S = 1.0
# Before that, the operation under way (one outbox item, one timer) is given this long to finish.
FINISH_WAIT_S = 2.0


class Worker:
    """start() runs `_run` as a task; wake() interrupts its sleep; stop() ends it once the operation
    under way is done (one that does not end within FINISH_WAIT_S is cut short: it rolls back with
    its transaction and stays pending for the next start)."""

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
            task, self._task = self._task, None
            # The operation under way first finishes (a DM already sent, cut short before its commit,
            # would be sent again by the next leader), then the task is cancelled if still running.
            await asyncio.wait({task}, timeout=FINISH_WAIT_S)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_S)
            if not done:
                log.warning("%s did not stop within %.0f s (database hung?); left behind", self.task_name, STOP_WAIT_S)
            elif not task.cancelled() and task.exception() is not None:
                log.warning("%s ended with %r", self.task_name, task.exception())

    async def _sleep(self, seconds: float) -> None:
        """Until woken, or `seconds` at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, seconds))

    async def _run(self) -> None:
        raise NotImplementedError

"""The bot's APScheduler: every periodic job runs only while this process may act (it leads under a
fresh lease and is not fenced), so a standby, a fenced leader or one just woken from a pause runs
none of them; the flush alone is exempt (README "Standby and failover")."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


class LeaderScheduler(AsyncIOScheduler):
    """An AsyncIOScheduler whose jobs check `may_act` each time they are due, not once at start: the
    lease can be lost between two runs (the scheduler keeps running until the stop ends it).
    `add_job(..., fenced=False)`: a job that must run whatever the lease says (the flushes, which
    only write what this process counted while it led; their Discord effects go through the
    outbox, fenced at delivery)."""

    def __init__(self, may_act: Callable[[], bool], **options: Any) -> None:
        super().__init__(**options)
        self.may_act = may_act
        self.skipped = 0  # runs refused because this process did not lead (doctor's health)

    def add_job(self, func: Callable[..., Any], *args: Any, fenced: bool = True, **kwargs: Any) -> Job:
        if fenced:
            func = self._fenced(func, str(kwargs.get("id") or getattr(func, "__qualname__", func)))
        return super().add_job(func, *args, **kwargs)

    def _fenced(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        def refused() -> bool:
            if self.may_act():
                return False
            self.skipped += 1
            log.info("job %s not run: this process does not lead", name)
            return True

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                return None if refused() else await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            return None if refused() else func(*args, **kwargs)

        return run

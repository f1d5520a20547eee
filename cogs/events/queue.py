"""Registrations for one event are served in the order they arrive: an asyncio lock per event
(asyncio's locks wake waiters first come, first served) in front of the event's row lock (which
keeps registrations from elsewhere, e.g. the website, in line too). Bound: one lock per event with
registrations in flight; a lock nobody waits for is dropped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class EventQueues:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, event_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        self._users[event_id] = self._users.get(event_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[event_id] -= 1
            if self._users[event_id] == 0:
                del self._users[event_id]
                del self._locks[event_id]

    def __len__(self) -> int:
        return len(self._locks)

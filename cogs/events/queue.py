"""Registrations for one event are served in the order they arrive: a lock per event (asyncio's
locks wake waiters first come, first served) taken before anything of the registration is read or
written, in front of the event's row lock (which keeps registrations from elsewhere, e.g. the
website, in line too). Bound: one lock per event with registrations in flight (bot/core/locks.py)."""

from __future__ import annotations

from bot.core.locks import KeyedLocks


class EventQueues(KeyedLocks):
    pass

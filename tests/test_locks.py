"""The lock order of bot/core/locks.py, checked at run time, and keyed locks that do not outlive their use."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.locks import ACHIEVEMENTS, FLUSHES, XP, KeyedLocks, LockOrderError, RankedLock


async def test_locks_taken_in_order_pass_and_out_of_order_raise():
    flushes, achievements, xp = (RankedLock(n, r) for n, r in (("flush", FLUSHES), ("ach", ACHIEVEMENTS), ("xp", XP)))
    async with flushes, achievements, xp:
        pass
    async with xp:
        with pytest.raises(LockOrderError, match="the ach lock taken while holding the xp lock"):
            await achievements.acquire()
        with pytest.raises(LockOrderError):  # not re-entrant: the same lock twice would hang for ever
            await xp.acquire()
    assert not achievements.locked() and not xp.locked()

    async def under_the_lock() -> None:  # a task started under a lock runs on its holder's behalf
        with pytest.raises(LockOrderError):
            await flushes.acquire()

    async with achievements:
        await asyncio.create_task(under_the_lock())
    async with xp:  # released: the order starts again
        pass


async def test_keyed_locks_serve_in_arrival_order_and_are_dropped_when_unused():
    locks = KeyedLocks()
    order: list[int] = []

    async def take(i: int) -> None:
        async with locks.turn("event"):
            order.append(i)
            await asyncio.sleep(0)

    await asyncio.gather(*(take(i) for i in range(20)))
    assert order == list(range(20)) and len(locks) == 0

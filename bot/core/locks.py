"""The bot's in-process locks and the one order they are taken in. A task holding one of them may
take only those further down this list; a pool connection is taken after the locks it needs and
never held while waiting for one (a waiter holding a connection could starve the pool).

1. FLUSHES: the flush schedule (bot/writes/flushes.py); one batched write at a time, periodic or final.
2. ACHIEVEMENTS: the achievement engine; one evaluation or backfill at a time.
3. XP: the XP engine; XP flushes, staff XP changes (/xp give|take|set|reset), achievement awards
   and revokes, event attendance rewards, purge reversals, rank-index moves.
4. Keyed locks (KeyedLocks: an event's registration queue, a member's joins and departures, a
   member's ban events in cogs/moderation/in_discord.py) and each buffer's own (the identity
   upsert, chat counts, analytics): nothing is taken under them but a pool connection.

Who takes what:
- the XP flush: FLUSHES, then XP;
- an achievement evaluation: FLUSHES, ACHIEVEMENTS, then XP for each award batch;
- a backfill (staff, or the hourly time-based one): ACHIEVEMENTS, then XP once for all its award
  chunks (`award(..., xp_locked=True)`), so XP flushes wait (their grants stay in memory, bounded);
- a staff grant or revoke: XP;
- attendance: FLUSHES then XP (voice minutes), or XP alone (a check-in);
- a purge taking XP back: XP (after a flush of its own, which takes XP and lets it go);
- a registration: the event's queue, a connection, then the event's row (FOR UPDATE);
- /erase: XP, then the chat counts' own lock (no flush holds any of the member's writes); what
  else memory holds of them (analytics rows, the voice clock, attendance minutes) is dropped after
  the erasure commits, under no lock (their writers resolve an erased row to no member);
- moderation takes no in-process lock but a member's ban events' (4); its order is the database's.

In the database, within one transaction: an event's row before its registrations; a batch's
per-member rows in users.id order (db/ledger.py sorts them); an achievement's row before its
members' award rows, whether awarding (claim_awards), revoking, or the website's
award_achievement(), so each waits for the one before it and none for the other.
Moderation, whoever acts (a command, an edit, a void, an appeal, a ban seen from Discord, an expiry,
a refusal from Discord): the case being changed (lock_case), then the member's sanction in force
(FOR UPDATE), then the guild's case counter (open_case), then timers and outbox rows. A command's
action (lifecycle.record) takes the member's lock first; a warning that may escalate then every
sanction of theirs in force (lock_sanctions), then the counter: its escalation re-locks a row it
holds, and no action of a moderator brings another into force meanwhile. Two paths
start elsewhere, and neither waits for a row the others hold first: the timer dispatcher holds its
timer's row, then the sanction's (so whoever cancels a sanction's timer skips a timer being run:
cogs/moderation/lifecycle.cancel_expiry, and the handler finds the sanction ended or its expiry
moved); the outbox worker holds its item's row, then (a refusal) the case's sanction, and nobody
locks an outbox row while holding a sanction.

RankedLock checks the list at run time: taking a lock that is not below every lock the task
holds raises LockOrderError naming both, so a would-be deadlock is an error the tests see."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from contextvars import ContextVar

FLUSHES, ACHIEVEMENTS, XP = 1, 2, 3

_held: ContextVar[tuple[RankedLock, ...]] = ContextVar("conclave_locks_held", default=())


class LockOrderError(RuntimeError):
    """A lock taken out of the order above (it could deadlock against a task taking them in order)."""


class RankedLock(asyncio.Lock):
    """An asyncio lock with its place in the order; the locks a task holds are tracked per task
    (a task started under a lock inherits it: it runs on the holder's behalf)."""

    def __init__(self, name: str, rank: int) -> None:
        super().__init__()
        self.name = name
        self.rank = rank

    async def acquire(self) -> bool:
        held = _held.get()
        for other in held:
            if other.rank >= self.rank:
                raise LockOrderError(
                    f"the {self.name} lock taken while holding the {other.name} lock (order: bot/core/locks.py)"
                )
        await super().acquire()
        _held.set((*held, self))
        return True

    def release(self) -> None:
        super().release()
        held = _held.get()
        if self in held:
            _held.set(tuple(lock for lock in held if lock is not self))


class KeyedLocks:
    """One lock per key (an event, a member) while someone holds or waits for it; asyncio's locks
    wake waiters first come, first served. Bound: one lock per key with work in flight; a lock
    nobody waits for is dropped, so keys seen once do not stay in memory."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)

"""One leader at a time: the lease in PostgreSQL (db/leader.py) that decides which `python -m bot run`
opens Discord's gateway. A standby waits for it; the leader renews it and fences itself (stops
touching Discord) once it could not renew for FENCE_AFTER_S, before any standby can acquire it
(TTL_S); a planned handover (`--takeover`) moves it without a gap. README "Standby and failover"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from db import leader
from db.faults import one_line
from db.leader import Fence
from db.pool import Database

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    ttl_s: float = 10.0  # a lease not renewed for this long (the database's clock) is free
    renew_every_s: float = 2.0
    fence_after_s: float = 6.0  # the leader's own clock, from the start of its last good renewal
    statement_s: float = 2.0  # one lease statement, server side (lock_timeout) and client side
    standby_poll_s: float = 1.0
    takeover_poll_s: float = 0.05
    handover_grace_s: float = 5.0  # a lease released to a named successor stays theirs this long
    # Damping (the IDENTIFY budget, 1,000 a day). Unplanned acquisitions (a start, a failover): past
    # flap_free within flap_window_s, a standby waits flap_base_s * 2^(n - flap_free) (at most
    # flap_max_s) after the lease ended. A crash loop then leads at most about 20 times in its first
    # hour (3 free, then 5 s, 10 s, ... 5 min apart) and under 300 times a day.
    flap_window_s: float = 3600.0
    flap_free: int = 3
    flap_base_s: float = 5.0
    flap_max_s: float = 300.0
    # Planned handovers (--takeover, a rolling deploy) are not flaps: they never delay a failover.
    # Each still costs one IDENTIFY (the new process's), so past handover_free within the window a
    # --takeover waits handover_base_s * 2^(n - handover_free) (at most flap_max_s) before its gateway
    # connects: a takeover loop gets at most about 22 in its first hour and under 300 a day, so with a
    # crash loop besides, under 600 IDENTIFYs a day.
    handover_free: int = 6
    handover_base_s: float = 5.0

    def damping(self, recent_acquisitions: int) -> float:
        over = recent_acquisitions - self.flap_free
        return 0.0 if over < 0 else min(self.flap_max_s, self.flap_base_s * 2**over)

    def handover_damping(self, recent_handovers: int) -> float:
        over = recent_handovers - self.handover_free
        return 0.0 if over < 0 else min(self.flap_max_s, self.handover_base_s * 2**over)


def new_holder() -> str:
    """This process's name in the lease: host, pid and a random suffix (a pid is reused)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(3)}"


class Lost(Exception):
    """The lease is gone (taken over, released, or not renewed in time)."""


class Leadership:
    def __init__(
        self, database: Database, guild_id: int, *, holder: str | None = None, timing: Timing | None = None
    ) -> None:
        self.database = database
        self.guild_id = str(guild_id)
        self.holder = holder or new_holder()
        self.timing = timing or Timing()
        self.fence: Fence | None = None
        self.since: float | None = None  # time.time() when this process acquired the lease
        self.renewed_at = 0.0  # monotonic start of the last good renewal
        self.handover_to: str | None = None
        self._conn: asyncpg.Connection | None = None
        self._one_statement = asyncio.Lock()
        self._keeper: asyncio.Task[str] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    # -- one lease statement: its own connection, its own short transaction, bounded both sides ----

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self.database.connect(session=True)
        return self._conn

    async def _run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]], *, within: float | None = None) -> T:
        async def attempt() -> T:
            async with self._one_statement:  # the renewal and a handover's reads share the connection
                try:
                    return await on_connection()
                except BaseException:
                    self._drop()  # a statement cut short (or failed) leaves the connection unusable
                    raise

        async def on_connection() -> T:
            conn = await self._connection()
            async with conn.transaction():
                ms = int(self.timing.statement_s * 1000)
                await leader.bound_transaction(conn, ms)
                return await statement(conn)

        limit = self.timing.statement_s + 0.5
        return await asyncio.wait_for(attempt(), timeout=limit if within is None else min(limit, within))

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    # -- standby ----------------------------------------------------------------------------------

    async def try_acquire(self, *, takeover: bool = False) -> Fence | None:
        """One try: the lease if it is free (after the damping a flapping leadership earns)."""
        t = self.timing

        async def statement(conn: asyncpg.Connection) -> int | None:
            lease = await leader.current(conn, self.guild_id)
            handed_to_me = lease is not None and lease.handover_to == self.holder and lease.handover_cut is not None
            if lease is not None and lease.expired_for < 0:
                return None
            if lease is not None and not handed_to_me:
                recent = (await leader.acquisitions_since(conn, self.guild_id, t.flap_window_s)).unplanned
                wait = t.damping(recent)
                if lease.expired_for < wait:
                    log.info("standby: leadership changed %d times lately; waiting %.0f s more", recent, wait)
                    return None
            detail = leader.BY_HANDOVER if handed_to_me else ("takeover" if takeover else None)
            return await leader.acquire(
                conn, self.guild_id, self.holder, t.ttl_s, grace_seconds=t.handover_grace_s, detail=detail
            )

        token = await self._run(statement)
        if token is None:
            return None
        self.fence = Fence(self.guild_id, self.holder, token)
        self.since = time.time()
        self.renewed_at = time.monotonic()
        log.info("leading (lease token %d, holder %s)", token, self.holder)
        return self.fence

    async def wait_for_lease(self, *, takeover: bool = False) -> Fence:
        """Wait (as a standby, or a process taking over) until this process holds the lease."""
        poll = self.timing.takeover_poll_s if takeover else self.timing.standby_poll_s
        said = False
        while True:
            try:
                fence = await self.try_acquire(takeover=takeover)
            except Exception as error:
                log.warning("standby: the lease could not be read (%s); trying again", one_line(error))
                fence = None
            if fence is not None:
                return fence
            if not said:
                log.info(
                    "taking over: waiting for the leader to hand over (holder %s)"
                    if takeover
                    else "standby: another process leads; waiting for the lease (holder %s)",
                    self.holder,
                )
                said = True
            await asyncio.sleep(poll)

    async def recent_handovers(self) -> int:
        t = self.timing
        return (await self._run(lambda c: leader.acquisitions_since(c, self.guild_id, t.flap_window_s))).handovers

    async def takeover_wait(self) -> float:
        """How long a --takeover waits before it connects: 0 unless the handovers of the last hour
        passed the free ones (a takeover loop)."""
        return self.timing.handover_damping(await self.recent_handovers())

    async def wait_out_takeover_damping(self) -> None:
        """Before a --takeover's gateway connects (its IDENTIFY): the wait a takeover loop earns."""
        recent = await self.recent_handovers()
        wait = self.timing.handover_damping(recent)
        if wait > 0:
            log.info("taking over: %d handovers in the last hour; waiting %.0f s before taking over", recent, wait)
            await asyncio.sleep(wait)

    async def request_handover(self) -> str:
        """Ask the live leader to hand over to this process: "asked", "nobody" (nobody leads) or "busy"
        (another process is taking over)."""
        return await self._run(lambda conn: leader.request_handover(conn, self.guild_id, self.holder))

    async def lease(self) -> leader.Lease | None:
        return await self._run(lambda conn: leader.current(conn, self.guild_id))

    # -- leader -----------------------------------------------------------------------------------

    def fresh(self) -> bool:
        """Renewed within fence_after_s: what the gateway's handlers check before acting, so a leader
        resumed from a long pause (a stopped VM, a frozen container) acts on nothing before its
        renewal loop finds out."""
        return time.monotonic() - self.renewed_at < self.timing.fence_after_s

    def start_keeping(self, on_handover: Callable[[str], None]) -> asyncio.Task[str]:
        self._keeper = asyncio.create_task(self.keep(on_handover), name="lease")
        return self._keeper

    def spawn(self, work: Awaitable[None], *, name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_keeping(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None and not keeper.done():
            keeper.cancel()
            await asyncio.wait({keeper}, timeout=self.timing.statement_s + 1)

    async def keep(self, on_handover: Callable[[str], None]) -> str:
        """Renew until the lease is lost; returns why ("lost": someone else holds it or it was
        released; "fenced": not renewed for fence_after_s). `on_handover(successor)` is called
        once when a process asks to take over."""
        assert self.fence is not None
        t = self.timing
        while True:
            left = t.fence_after_s - (time.monotonic() - self.renewed_at)
            if left <= 0:
                log.error(
                    "the lease could not be renewed for %.0f s: fencing (no more Discord, outbox, timers)",
                    t.fence_after_s,
                )
                return "fenced"
            started = time.monotonic()
            try:
                # never past the fencing deadline: a renewal still waiting then is a failed one
                renewal = await self._run(lambda conn: leader.renew(conn, self.fence, t.ttl_s), within=left)  # type: ignore[arg-type]
            except Exception as error:
                log.warning("the lease was not renewed (%s)", one_line(error) or type(error).__name__)
            else:
                if not renewal.held:
                    log.warning("the lease is no longer this process's (token %d)", self.fence.token)
                    return "lost"
                self.renewed_at = started
                if renewal.handover_to and renewal.handover_cut is None and self.handover_to is None:
                    self.handover_to = renewal.handover_to
                    on_handover(renewal.handover_to)
            left = t.fence_after_s - (time.monotonic() - self.renewed_at)
            await asyncio.sleep(max(0.0, min(t.renew_every_s, left)))

    async def set_cut(self, cut: int) -> bool:
        assert self.fence is not None
        return await self._run(lambda conn: leader.set_cut(conn, self.fence, cut))  # type: ignore[arg-type]

    async def _answered(
        self, statement: Callable[[asyncpg.Connection], Awaitable[T]], *, within: float, what: str
    ) -> T | None:
        """`statement` (idempotent) asked again every 0.25 s while the database fails to answer it;
        None once `within` seconds went by without an answer (one warning for them all)."""
        loop = asyncio.get_running_loop()
        give_up, warned = loop.time() + within, False
        while True:
            try:
                return await self._run(statement)
            except Exception as error:
                if not warned:
                    log.warning("handover: %s could not be recorded (%s); asking again", what, one_line(error))
                    warned = True
            if loop.time() >= give_up:
                return None
            await asyncio.sleep(0.25)

    async def take_cut(self, cut: int, *, within: float) -> bool | None:
        """Tell the old leader this process handles the events from `cut` on, before handling any:
        True once on record; False when the handover was called off (or moved to another cut, or
        the lease went to another process); None when the database gave no answer within `within`
        seconds. Asked again after a failure: the write is idempotent, and a compare-and-set on the
        row the old leader's call-off changes, so one of the two wins whatever answers were lost."""
        grace = self.timing.handover_grace_s
        return await self._answered(
            lambda conn: leader.take_cut(conn, self.guild_id, self.holder, cut, grace_seconds=grace),
            within=within,
            what="taking the cut",
        )

    async def lease_after_take(self) -> Fence | None:
        """The successor, once it took its cut: the lease the old leader releases to it (however long
        its stop takes). None when another process acquired it meanwhile (this one stalled past the
        lease's grace for it): the row no longer names this process as the successor."""
        while True:
            try:
                fence = await self.try_acquire(takeover=True)
                lease = None if fence is not None else await self.lease()
            except Exception as error:
                log.warning("taking over: the lease could not be read (%s); trying again", one_line(error))
            else:
                if fence is not None:
                    return fence
                if lease is None or lease.handover_to != self.holder:
                    return None
            await asyncio.sleep(self.timing.takeover_poll_s)

    async def call_off_handover(self, successor: str, *, within: float = 0.0) -> bool | None:
        """The old leader's way back from a handover whose successor never took its cut: True, called
        off (this process leads on; also when an earlier try's answer was lost); False, the successor
        took it meanwhile (or the lease is gone); None, unknown (no answer within `within` seconds)."""
        fence = self.fence
        if fence is None:
            return False
        called_off = await self._answered(
            lambda conn: leader.call_off_handover(conn, fence, successor),
            within=within,
            what=f"calling the handover to {successor} off",
        )
        if called_off:
            self.handover_to = None  # a new request (the same successor, alive after all) is answered again
        return called_off

    async def cut_taken(self) -> bool:
        fence = self.fence
        return fence is not None and await self._run(lambda conn: leader.cut_taken(conn, fence))

    async def release(self, *, event: str = "released", detail: str | None = None) -> None:
        """Give the lease up (a stop, a handover), so the next process leads at once."""
        if self.fence is None:
            return
        await self._stop_keeping()  # one statement at a time on the lease's connection
        try:
            await self._run(lambda conn: leader.release(conn, self.fence, event=event, detail=detail))  # type: ignore[arg-type]
        except Exception as error:
            log.warning("the lease was not released (%s); it expires by itself", one_line(error))

    async def record_fenced(self, pool: asyncpg.Pool) -> None:
        """Best effort, through the pool (the lease's own connection is what failed)."""
        if self.fence is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(leader.log_change(pool, self.fence, "fenced", "not renewed in time"), 2.0)

    async def close(self) -> None:
        await self._stop_keeping()
        if self._conn is not None:
            try:
                await asyncio.wait_for(self._conn.close(), 1.0)
            except Exception:
                self._drop()
            self._conn = None


def describe(lease: leader.Lease | None, changes: list[leader.Change]) -> tuple[str, list[str]]:
    """Who leads and since when, and the last leadership changes: one line each (doctor, /about)."""
    if lease is None:
        who = "nobody yet (no bot process has led on this database)"
    elif lease.expired_for >= 0:
        who = (
            f"nobody: the lease of {lease.holder} ended {lease.expired_for:.0f} s ago "
            "(no process running, or a standby about to lead)"
        )
    else:
        who = (
            f"{lease.holder} since {lease.acquired_at:%Y-%m-%d %H:%M:%S %Z} (token {lease.token}), "
            f"lease good for {-lease.expired_for:.0f} s more"
        )
    lines = [
        f"{c.at:%Y-%m-%d %H:%M:%S %Z} {c.event} by {c.holder} (token {c.token}){f': {c.detail}' if c.detail else ''}"
        for c in changes
    ]
    return who, lines

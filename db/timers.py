"""Durable timers: rows due at a time, claimed once by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.leader import Fence, fence_args, fence_sql
from db.types import Executor


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


async def schedule(conn: Executor, kind: str, due_at: datetime, payload: dict[str, Any]) -> int:
    """Add a timer; call inside the transaction of the change that needs it."""
    return await conn.fetchval(
        "INSERT INTO timers (kind, due_at, payload) VALUES ($1, $2, $3) RETURNING id", kind, due_at, payload
    )


async def next_due_at(conn: Executor) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM timers WHERE status = 'pending'")


async def claim_due(conn: asyncpg.Connection, fence: Fence | None = None) -> Timer | None:
    """Lock the earliest due timer (inside the caller's transaction); other dispatchers skip it.
    With a fence, only while that lease is held."""
    fenced = f"AND {fence_sql(1)}" if fence is not None else ""
    row = await conn.fetchrow(
        f"""SELECT id, kind, due_at, payload, attempts FROM timers
           WHERE status = 'pending' AND due_at <= NOW() {fenced}
           ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED""",
        *(fence_args(fence) if fence is not None else ()),
    )
    return Timer(**dict(row)) if row else None


async def mark_done(conn: Executor, timer_id: int) -> None:
    await conn.execute(
        "UPDATE timers SET status = 'done', attempts = attempts + 1, done_at = NOW() WHERE id = $1", timer_id
    )


async def mark_retry(conn: Executor, timer_id: int, *, delay_seconds: float, error: str) -> None:
    await conn.execute(
        """UPDATE timers SET attempts = attempts + 1, last_error = $3,
                             due_at = NOW() + make_interval(secs => $2) WHERE id = $1""",
        timer_id,
        delay_seconds,
        error,
    )


async def mark_failed(conn: Executor, timer_id: int, *, error: str) -> None:
    await conn.execute(
        "UPDATE timers SET status = 'failed', attempts = attempts + 1, last_error = $2, done_at = NOW() WHERE id = $1",
        timer_id,
        error,
    )


async def cancel(conn: Executor, kind: str, payload_key: str, value: Any, *, skip_running: bool = False) -> int:
    """Cancel pending timers of a kind whose payload[payload_key] = value; returns how many.
    `skip_running`: leave a timer a dispatcher is running right now (its row is locked) to that run,
    rather than wait for it: its handler must find for itself that it has nothing left to do (the
    caller holds the row that handler locks next, so waiting would deadlock)."""
    status = await conn.execute(
        f"""UPDATE timers SET status = 'cancelled', done_at = NOW()
            WHERE id IN (SELECT id FROM timers WHERE status = 'pending' AND kind = $1 AND payload ->> $2 = $3
                         FOR UPDATE {"SKIP LOCKED" if skip_running else ""})""",
        kind,
        payload_key,
        str(value),
    )
    return int(status.split()[-1])


async def pending_count(conn: Executor) -> tuple[int, int]:
    """(pending timers, of which due now)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, count(*) FILTER (WHERE due_at <= NOW()) AS due FROM timers WHERE status = 'pending'"
    )
    return row["n"], row["due"]

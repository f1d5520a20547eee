"""Writes the database refused, kept with the error so staff can replay or discard them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.types import Executor

KINDS = ("xp_grant", "activity", "outbox")


@dataclass(frozen=True)
class Refused:
    """One refused write, ready to be recorded."""

    kind: str
    payload: dict[str, Any]
    error: str
    sqlstate: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    id: int
    kind: str
    payload: dict[str, Any]
    error: str
    sqlstate: str | None
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None


_COLUMNS = "id, kind, payload, error, sqlstate, status, created_at, resolved_at, resolution"


async def record(conn: Executor, refused: Sequence[Refused]) -> int:
    """Keep refused writes (one statement); returns how many were recorded."""
    if not refused:
        return 0
    for r in refused:
        if r.kind not in KINDS:
            raise ValueError(f"unknown dead-letter kind {r.kind!r}")
    await conn.execute(
        """INSERT INTO dead_letters (kind, payload, error, sqlstate)
           SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[])""",
        [r.kind for r in refused],
        [r.payload for r in refused],
        [r.error for r in refused],
        [r.sqlstate for r in refused],
    )
    return len(refused)


async def pending(conn: Executor, *, limit: int = 100) -> list[DeadLetter]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM dead_letters WHERE status = 'pending' ORDER BY id LIMIT $1",
        limit,
    )
    return [DeadLetter(**dict(r)) for r in rows]


async def count_pending(conn: Executor) -> int:
    return await conn.fetchval("SELECT count(*) FROM dead_letters WHERE status = 'pending'")


async def get(conn: Executor, letter_id: int, *, lock: bool = False) -> DeadLetter | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1{suffix}", letter_id)
    return DeadLetter(**dict(row)) if row else None


async def resolve(conn: Executor, letter_id: int, *, status: str, resolution: str) -> bool:
    """Mark a pending dead letter replayed or discarded; False when it was not pending."""
    if status not in ("replayed", "discarded"):
        raise ValueError(f"a dead letter is resolved as replayed or discarded, not {status!r}")
    result = await conn.execute(
        """UPDATE dead_letters SET status = $2, resolution = $3, resolved_at = NOW()
           WHERE id = $1 AND status = 'pending'""",
        letter_id,
        status,
        resolution,
    )
    return result.endswith(" 1")

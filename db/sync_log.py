"""The guide's discord_sync_log: one row per synchronisation run (started, then completed or failed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.types import Executor


async def begin(conn: Executor, sync_type: str) -> str:
    return await conn.fetchval(
        "INSERT INTO discord_sync_log (sync_type, status) VALUES ($1, 'started') RETURNING id::text", sync_type
    )


async def complete(conn: Executor, run_id: str, *, members: int, details: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE discord_sync_log SET status = 'completed', members_synced = $2, completed_at = NOW(), details = $3
           WHERE id = $1::uuid""",
        run_id,
        members,
        details,
    )


async def fail(conn: Executor, run_id: str, error: str, details: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE discord_sync_log SET status = 'failed', completed_at = NOW(), error_message = $2, details = $3
           WHERE id = $1::uuid""",
        run_id,
        error[:1000],
        details,
    )


@dataclass(frozen=True)
class Run:
    sync_type: str
    status: str
    members_synced: int
    started_at: datetime
    completed_at: datetime | None
    error_message: str | None
    details: dict[str, Any]


async def last(conn: Executor, sync_type: str) -> Run | None:
    row = await conn.fetchrow(
        """SELECT sync_type, status, COALESCE(members_synced, 0) AS members_synced, started_at, completed_at,
                  error_message, COALESCE(details, '{}'::jsonb) AS details
           FROM discord_sync_log WHERE sync_type = $1 ORDER BY started_at DESC LIMIT 1""",
        sync_type,
    )
    return Run(**dict(row)) if row else None

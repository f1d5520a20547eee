"""Member notifications (the website shows them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.types import Executor


async def notify(
    conn: Executor,
    user_id: str,
    title: str,
    message: str | None = None,
    *,
    type: str = "info",
    metadata: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
    action_url: str | None = None,
) -> int:
    return await conn.fetchval(
        """
        INSERT INTO notifications (user_id, title, message, type, metadata, expires_at, action_url)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
        """,
        user_id,
        title,
        message,
        type,
        metadata or {},
        expires_at,
        action_url,
    )


async def notify_many(
    conn: Executor,
    user_ids: list[str],
    title: str,
    message: str | None,
    *,
    type: str,
    metadata: dict[str, Any],
    action_url: str | None = None,
) -> int:
    """The same notification for many members, in one statement."""
    status = await conn.execute(
        """INSERT INTO notifications (user_id, title, message, type, metadata, action_url)
           SELECT u, $2, $3, $4, $5, $6 FROM unnest($1::text[]) AS t(u)""",
        user_ids,
        title,
        message,
        type,
        metadata,
        action_url,
    )
    return int(status.split()[-1])


@dataclass(frozen=True)
class Notification:
    id: int
    title: str
    message: str | None
    type: str
    action_url: str | None
    metadata: dict[str, Any]
    created_at: datetime


async def unread(conn: Executor, user_id: str, *, before: int | None = None, limit: int = 5) -> list[Notification]:
    """A member's unread notifications, newest first, older than id `before` (keyset paging);
    expired ones are not shown even before the daily cleanup removes them."""
    rows = await conn.fetch(
        """SELECT id, title, message, type, action_url, metadata, created_at FROM notifications
           WHERE user_id = $1 AND NOT read AND (expires_at IS NULL OR expires_at > NOW())
             AND ($2::int IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3""",
        user_id,
        before,
        limit,
    )
    return [Notification(**dict(r)) for r in rows]


async def unread_count(conn: Executor, user_id: str) -> int:
    return await conn.fetchval(
        """SELECT count(*) FROM notifications
           WHERE user_id = $1 AND NOT read AND (expires_at IS NULL OR expires_at > NOW())""",
        user_id,
    )


async def mark_read(conn: Executor, user_id: str, ids: list[int] | None = None) -> int:
    """Mark these (or all) of the member's notifications read; only their own."""
    status = await conn.execute(
        """UPDATE notifications SET read = true
           WHERE user_id = $1 AND NOT read AND ($2::int[] IS NULL OR id = ANY($2::int[]))""",
        user_id,
        ids,
    )
    return int(status.split()[-1])


async def cleanup_expired(conn: Executor) -> int:
    """Delete expired notifications; returns how many."""
    return await conn.fetchval("SELECT cleanup_expired_notifications()")

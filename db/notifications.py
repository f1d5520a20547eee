"""Member notifications (the website shows them)."""

from __future__ import annotations

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
) -> int:
    return await conn.fetchval(
        """
        INSERT INTO notifications (user_id, title, message, type, metadata, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
        """,
        user_id,
        title,
        message,
        type,
        metadata or {},
        expires_at,
    )


async def cleanup_expired(conn: Executor) -> int:
    """Delete expired notifications; returns how many."""
    return await conn.fetchval("SELECT cleanup_expired_notifications()")

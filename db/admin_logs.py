"""The administrative audit trail."""

from __future__ import annotations

from typing import Any

from db.types import Executor


async def log_admin_action(
    conn: Executor,
    *,
    admin_id: str | None,
    action: str,
    target_type: str,
    target_id: str,
    previous_value: dict[str, Any] | None,
    new_value: dict[str, Any] | None,
    reason: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO admin_logs (admin_id, action, target_type, target_id, previous_value, new_value, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        admin_id,
        action,
        target_type,
        target_id,
        previous_value,
        new_value,
        reason,
    )


async def actions_on(conn: Executor, target_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT admin_id, action, previous_value, new_value, reason FROM admin_logs
           WHERE target_id = $1 ORDER BY created_at, id""",
        target_id,
    )
    return [dict(r) for r in rows]


async def seconds_since(conn: Executor, *, admin_id: str, action: str) -> float | None:
    """How long ago this admin (or member) last did `action`, by the database's clock; None if never."""
    return await conn.fetchval(
        """SELECT EXTRACT(EPOCH FROM now() - max(created_at))::float8 FROM admin_logs
           WHERE admin_id = $1 AND action = $2""",
        admin_id,
        action,
    )

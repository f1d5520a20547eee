"""Settings kept in the database (community_settings): the timezone the SQL functions read, and the
moderation settings staff changed with /modconfig (keys `moderation.*`, JSON values)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from db.types import Executor


async def with_prefix(conn: Executor, prefix: str) -> dict[str, Any]:
    """Every setting whose key starts with `prefix`, the prefix removed, values decoded."""
    rows = await conn.fetch("SELECT key, value FROM community_settings WHERE starts_with(key, $1) ORDER BY key", prefix)
    return {r["key"][len(prefix) :]: json.loads(r["value"]) for r in rows}


async def put(conn: asyncpg.Connection, key: str, value: Any) -> tuple[bool, Any]:
    """Set a setting (inside the caller's transaction); returns (whether it existed, its previous value)."""
    previous = await conn.fetchval("SELECT value FROM community_settings WHERE key = $1 FOR UPDATE", key)
    await conn.execute(
        """INSERT INTO community_settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        key,
        json.dumps(value),
    )
    return previous is not None, json.loads(previous) if previous is not None else None


async def remove(conn: asyncpg.Connection, key: str) -> tuple[bool, Any]:
    """Delete a setting; returns (whether it existed, its previous value)."""
    previous = await conn.fetchval("DELETE FROM community_settings WHERE key = $1 RETURNING value", key)
    return previous is not None, json.loads(previous) if previous is not None else None

"""Counts the benchmarks read back (never used by the bot)."""

from __future__ import annotations

from db.types import Executor


async def message_grants(conn: Executor) -> int:
    return await conn.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'message'")

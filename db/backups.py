"""What a backup of the bot's database takes: the schemas the connecting role owns (on Supabase,
not `auth`, `storage`, `realtime` and the other schemas Supabase owns and restores itself)."""

from __future__ import annotations

from db.types import Executor


async def foreign_schemas(conn: Executor) -> list[str]:
    """Schemas the current role neither owns nor is a member of the owner of (system ones aside)."""
    rows = await conn.fetch(
        """SELECT nspname FROM pg_namespace
            WHERE NOT pg_has_role(nspowner, 'USAGE')
              AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
            ORDER BY nspname"""
    )
    return [r["nspname"] for r in rows]

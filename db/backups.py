"""What a backup of the bot's database takes: the schemas the connecting role owns (on Supabase,
not `auth`, `storage`, `realtime` and the other schemas Supabase owns and restores itself)."""

from __future__ import annotations

from db import default_privileges
from db.migrate import ADVISORY_LOCK_KEY
from db.types import Executor


async def foreign_schemas(conn: Executor) -> list[str]:
    """Schemas the current role neither owns nor is a member of the owner of (system ones aside), never
    `public`, the bot's own: PostgreSQL 15 made it pg_database_owner's, but on 14 it belongs to the
    bootstrap superuser, and a non-superuser owner (a Supabase project on 14) dumped nothing at all."""
    rows = await conn.fetch(
        """SELECT nspname FROM pg_namespace
            WHERE NOT pg_has_role(nspowner, 'USAGE')
              AND nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public')
            ORDER BY nspname"""
    )
    return [r["nspname"] for r in rows]


def restore_script(recorded: list[default_privileges.DefaultGrant]) -> tuple[str, str]:
    """What a restore's SQL (pg_restore's script) is wrapped in, to run as one transaction: it opens
    the transaction, takes the migration lock (no migration runs during a restore) and sets the
    connecting role's default privileges aside (so the tables it creates get the dump's privileges
    only, not the project's grants of every new table to the API roles); the end puts them back
    exactly and commits. Until the end is sent nothing is committed, so a restore that fails or is
    killed part way changes nothing, the default privileges included."""
    head = ["BEGIN", f"SELECT pg_advisory_xact_lock({int(ADVISORY_LOCK_KEY)})"]
    head += default_privileges.clear_statements(recorded)
    tail = [*default_privileges.grant_statements(recorded), "COMMIT"]
    return "".join(f"{s};\n" for s in head), "".join(f"{s};\n" for s in tail)

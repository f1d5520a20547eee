"""The connecting role's schema-level default privileges (`ALTER DEFAULT PRIVILEGES ... IN SCHEMA`),
recorded, set aside and put back exactly.

On Supabase the project's `postgres` role has default privileges that give the API roles (`anon`,
`authenticated`, `service_role`) every table, sequence and function it creates in `public`. Those are
the project's, not the bot's: the migration runner records them, sets them aside while the migrations
run and again after each migration (so every object a migration creates gets the built-in defaults
plus the migration's own GRANTs, the same on Supabase as on a plain PostgreSQL), and puts them back
exactly as they were before the run's transaction commits, whatever a migration did to them (010
revokes the API roles' defaults). The restore of a backup does the same around pg_restore.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from db.types import Executor

# pg_default_acl.defaclobjtype -> the object kind ALTER DEFAULT PRIVILEGES ... IN SCHEMA names
# (schemas and large objects have global default privileges only).
_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}

_ROWS = """
SELECT n.nspname AS schema, d.defaclobjtype::text AS kind,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee,
       a.privilege_type AS privilege, a.is_grantable AS grantable
  FROM pg_default_acl d
  JOIN pg_namespace n ON n.oid = d.defaclnamespace
 CROSS JOIN LATERAL aclexplode(d.defaclacl) WITH ORDINALITY AS a
 WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
 ORDER BY n.nspname, d.defaclobjtype, a.ordinality
"""


@dataclass(frozen=True)
class DefaultGrant:
    """One privilege of one schema-level default ACL entry of the current role, in ACL order."""

    schema: str
    kind: str  # pg_default_acl.defaclobjtype: r, S, f, T
    grantee: str  # quoted role name, or PUBLIC
    privilege: str  # SELECT, INSERT, ..., USAGE, EXECUTE
    grantable: bool


async def record(conn: Executor) -> list[DefaultGrant]:
    """The current role's schema-level default privileges, as they are now."""
    return [DefaultGrant(**dict(r)) for r in await conn.fetch(_ROWS)]


def _in(schema: str) -> str:
    quoted = '"' + schema.replace('"', '""') + '"'
    return f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted}"


async def clear(conn: Executor) -> None:
    """Remove every schema-level default privilege of the current role (its objects then get the
    built-in defaults: the owner's, and EXECUTE for PUBLIC on functions)."""
    done: set[tuple[str, str, str]] = set()
    for grant in await record(conn):
        key = (grant.schema, grant.kind, grant.grantee)
        if key in done:
            continue
        done.add(key)
        await conn.execute(f"{_in(grant.schema)} REVOKE ALL ON {_KINDS[grant.kind]} FROM {grant.grantee}")


async def restore(conn: Executor, recorded: list[DefaultGrant]) -> None:
    """Make the current role's schema-level default privileges exactly `recorded` again: whatever is
    there now is removed, then each entry is granted in its original order (so each ACL reads the same,
    item for item)."""
    await clear(conn)
    groups: dict[tuple[str, str, str, bool], list[str]] = {}
    for grant in recorded:
        groups.setdefault((grant.schema, grant.kind, grant.grantee, grant.grantable), []).append(grant.privilege)
    for (schema, kind, grantee, grantable), privileges in groups.items():
        option = " WITH GRANT OPTION" if grantable else ""
        await conn.execute(f"{_in(schema)} GRANT {', '.join(privileges)} ON {_KINDS[kind]} TO {grantee}{option}")


@asynccontextmanager
async def set_aside(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """The current role's schema-level default privileges removed (committed) for the length of work
    done on other connections (pg_restore), and put back exactly afterwards, whether it worked or not."""
    kept = await record(conn)
    async with conn.transaction():
        await clear(conn)
    try:
        yield
    finally:
        async with conn.transaction():
            await restore(conn, kept)

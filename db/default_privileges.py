"""The connecting role's default privileges (`ALTER DEFAULT PRIVILEGES [IN SCHEMA ...]`), recorded,
set aside and put back exactly.

On Supabase the project's `postgres` role has default privileges that give the API roles (`anon`,
`authenticated`, `service_role`) every table, sequence and function it creates in `public`. Those are
the project's, not the bot's: the migration runner records them, sets them aside while the migrations
run and again after each migration (so every object a migration creates gets the built-in defaults
plus the migration's own GRANTs, the same on Supabase as on a plain PostgreSQL), and puts them back
exactly as they were before the run's transaction commits, whatever a migration did to them (010
revokes the API roles' defaults). The restore of a backup does the same in its one transaction
(db/backups.py restore_script).
"""

from __future__ import annotations

from dataclasses import dataclass

from db.types import Executor

# pg_default_acl.defaclobjtype -> the object kind ALTER DEFAULT PRIVILEGES names (schemas and large
# objects have global default privileges only).
_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS", "L": "LARGE OBJECTS"}

# Schema-level entries (IN SCHEMA: additions only) and the global one (defaclnamespace 0, for every
# schema), which holds the whole ACL new objects start from: the built-in one (acldefault: the
# owner's privileges, EXECUTE on functions and USAGE on types for PUBLIC) with what was granted or
# revoked since. Each item says whether it is there now and whether the built-in ACL has it, so a
# clear brings a global entry back to the built-in ACL and a restore redoes the differences.
_ROWS = """
WITH mine AS (
  SELECT d.* FROM pg_default_acl d WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
), present AS (
  SELECT m.defaclnamespace AS ns, m.defaclobjtype AS kind, a.grantee, a.privilege_type, a.is_grantable,
         a.ordinality AS pos
    FROM mine m CROSS JOIN LATERAL aclexplode(m.defaclacl) WITH ORDINALITY AS a
), builtin AS (
  SELECT m.defaclnamespace AS ns, m.defaclobjtype AS kind, b.grantee, b.privilege_type, b.is_grantable
    FROM mine m
   CROSS JOIN LATERAL aclexplode(acldefault(CASE m.defaclobjtype WHEN 'S' THEN 's' ELSE m.defaclobjtype END,
                                            m.defaclrole)) AS b
   WHERE m.defaclnamespace = 0
)
SELECT n.nspname AS schema, i.kind::text AS kind,
       CASE WHEN i.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(i.grantee)) END AS grantee,
       i.privilege_type AS privilege, i.is_grantable AS grantable, i.present, i.builtin
  FROM (SELECT COALESCE(p.ns, b.ns) AS ns, COALESCE(p.kind, b.kind) AS kind, COALESCE(p.grantee, b.grantee) AS grantee,
               COALESCE(p.privilege_type, b.privilege_type) AS privilege_type,
               COALESCE(p.is_grantable, b.is_grantable) AS is_grantable,
               p.pos, p.grantee IS NOT NULL AS present, b.grantee IS NOT NULL AS builtin
          FROM present p
          FULL JOIN builtin b USING (ns, kind, grantee, privilege_type, is_grantable)) i
  LEFT JOIN pg_namespace n ON n.oid = i.ns
 ORDER BY n.nspname NULLS FIRST, i.kind, i.pos NULLS LAST, i.grantee, i.privilege_type
"""


@dataclass(frozen=True)
class DefaultGrant:
    """One privilege of one default ACL entry of the current role, in ACL order."""

    schema: str | None  # None: the global entry (for every schema)
    kind: str  # pg_default_acl.defaclobjtype: r, S, f, T, n, L
    grantee: str  # quoted role name, or PUBLIC
    privilege: str  # SELECT, INSERT, ..., USAGE, EXECUTE
    grantable: bool
    present: bool = True  # in the entry now
    builtin: bool = False  # in the built-in ACL a global entry starts from


async def record(conn: Executor) -> list[DefaultGrant]:
    """The current role's default privileges, as they are now."""
    return [DefaultGrant(**dict(r)) for r in await conn.fetch(_ROWS)]


def _in(schema: str | None) -> str:
    if schema is None:
        return "ALTER DEFAULT PRIVILEGES"
    quoted = '"' + schema.replace('"', '""') + '"'
    return f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted}"


def _statements(items: list[DefaultGrant], verb: str) -> list[str]:
    """GRANT or REVOKE `items`, one statement per entry, grantee and grant option, in their order."""
    groups: dict[tuple[str | None, str, str, bool], list[str]] = {}
    for item in items:
        groups.setdefault((item.schema, item.kind, item.grantee, item.grantable), []).append(item.privilege)
    if verb == "REVOKE":
        return [
            f"{_in(schema)} REVOKE {', '.join(privileges)} ON {_KINDS[kind]} FROM {grantee}"
            for (schema, kind, grantee, _), privileges in groups.items()
        ]
    return [
        f"{_in(schema)} GRANT {', '.join(privileges)} ON {_KINDS[kind]} TO {grantee}"
        + (" WITH GRANT OPTION" if grantable else "")
        for (schema, kind, grantee, grantable), privileges in groups.items()
    ]


def clear_statements(recorded: list[DefaultGrant]) -> list[str]:
    """The statements that bring `recorded` back to the built-in defaults: what was granted revoked,
    what a global entry revoked of the built-in ACL granted again."""
    return _statements([g for g in recorded if g.present and not g.builtin], "REVOKE") + _statements(
        [g for g in recorded if g.builtin and not g.present], "GRANT"
    )


def grant_statements(recorded: list[DefaultGrant]) -> list[str]:
    """The statements that make the built-in defaults `recorded` again (the inverse of
    clear_statements), each entry's grants in their original order (so each ACL reads the same)."""
    return _statements([g for g in recorded if g.present and not g.builtin], "GRANT") + _statements(
        [g for g in recorded if g.builtin and not g.present], "REVOKE"
    )


async def clear(conn: Executor) -> None:
    """Bring the current role's default privileges back to the built-in ones (its objects then get
    the owner's privileges, and EXECUTE for PUBLIC on functions, USAGE on types)."""
    for statement in clear_statements(await record(conn)):
        await conn.execute(statement)


async def restore(conn: Executor, recorded: list[DefaultGrant]) -> None:
    """Make the current role's schema-level default privileges exactly `recorded` again: whatever is
    there now is cleared, then `recorded`'s differences from the built-in defaults are made again."""
    await clear(conn)
    for statement in grant_statements(recorded):
        await conn.execute(statement)

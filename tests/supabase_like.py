"""A Supabase-like database on the test server: what a Supabase project gives the bot and the website.

- The project's owner role (Supabase's `postgres`) is NOT a superuser: LOGIN, CREATEROLE, CREATEDB,
  BYPASSRLS, a member of the API roles, owner of the database. (Named `supabase_owner` here, since the
  test server's superuser may already be called `postgres`.)
- The API roles `anon`, `authenticated`, `service_role` (BYPASSRLS), and `authenticator`, the login
  PostgREST connects as before `SET LOCAL ROLE`.
- Schema `auth` owned by `supabase_auth_admin`, with `auth.users`, `auth.identities` and Supabase's
  own `auth.uid()` (returning **uuid**), `auth.role()`, `auth.jwt()`, `auth.email()`.
- Extensions in schema `extensions`.
- Default privileges: every table, sequence and function the owner creates in `public` is granted to
  the API roles (Supabase's `ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ...`),
  and the same for what the platform's `supabase_admin` creates there.
- The platform's database-wide objects the owner cannot drop or make: PostgREST's schema-reload event
  trigger (`pgrst_ddl_watch`, owned by the superuser) and Realtime's publication `supabase_realtime`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

OWNER = "supabase_owner"
OWNER_PASSWORD = "owner-secret"
AUTHENTICATOR = "authenticator"
AUTHENTICATOR_PASSWORD = "authenticator-secret"

_ROLES = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_auth_admin') THEN
    CREATE ROLE supabase_auth_admin NOLOGIN NOINHERIT CREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_admin') THEN
    CREATE ROLE supabase_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{AUTHENTICATOR}') THEN
    CREATE ROLE {AUTHENTICATOR} LOGIN NOINHERIT PASSWORD '{AUTHENTICATOR_PASSWORD}';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER}') THEN
    CREATE ROLE {OWNER} LOGIN NOSUPERUSER CREATEROLE CREATEDB BYPASSRLS PASSWORD '{OWNER_PASSWORD}';
  END IF;
END
$$;
GRANT anon, authenticated, service_role TO {AUTHENTICATOR};
GRANT anon, authenticated, service_role TO {OWNER};
"""

# Supabase Auth's schema, as far as the bot and the website touch it (columns as Supabase names them).
_AUTH = """
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE TABLE auth.users (
  id uuid PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  created_at timestamptz DEFAULT now()
);
CREATE TABLE auth.identities (
  provider_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  identity_data jsonb NOT NULL,
  provider text NOT NULL,
  last_sign_in_at timestamptz,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider)
);
CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO service_role;
RESET ROLE;
"""

_PROJECT = f"""
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON SCHEMA public TO {OWNER};
GRANT USAGE ON SCHEMA auth TO {OWNER};
GRANT SELECT ON ALL TABLES IN SCHEMA auth TO {OWNER};
CREATE SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role, {OWNER};
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
CREATE FUNCTION extensions.pgrst_ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgrst', 'reload schema');
END
$$;
CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end EXECUTE FUNCTION extensions.pgrst_ddl_watch();
CREATE PUBLICATION supabase_realtime;
"""

# Extensions Supabase installs in `extensions` (those the test server has).
_EXTENSIONS = ("pg_trgm", "pg_stat_statements", "citext")


def with_user(dsn: str, user: str, password: str, database: str | None = None) -> str:
    """`dsn` logging in as another role (and to another database), keeping host, port and query."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    path = f"/{database}" if database else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


@dataclass(frozen=True)
class SupabaseProject:
    name: str
    admin_dsn: str  # the server's superuser, on this database (what Supabase itself is)
    owner_dsn: str  # the project's non-superuser `postgres` role: what the bot gets
    authenticator_dsn: str  # what PostgREST logs in as


async def create_project(server_admin_dsn: str, name: str) -> SupabaseProject:
    """A new database laid out as a Supabase project (roles are cluster-wide and made idempotently)."""
    conn = await asyncpg.connect(server_admin_dsn)
    try:
        await conn.execute(_ROLES)
        await conn.execute(f'CREATE DATABASE "{name}" OWNER {OWNER}')
    finally:
        await conn.close()
    admin = with_database(server_admin_dsn, name)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(_AUTH)
        await conn.execute(_PROJECT)
        available = {r["name"] for r in await conn.fetch("SELECT name FROM pg_available_extensions")}
        for ext in _EXTENSIONS:
            if ext in available:
                await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext} SCHEMA extensions")
    finally:
        await conn.close()
    return SupabaseProject(
        name=name,
        admin_dsn=admin,
        owner_dsn=with_user(server_admin_dsn, OWNER, OWNER_PASSWORD, name),
        authenticator_dsn=with_user(server_admin_dsn, AUTHENTICATOR, AUTHENTICATOR_PASSWORD, name),
    )


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


# What Supabase owns, read as the superuser: it must be the same before the migrations, after them,
# after rolling them all back and after migrating again.
_SUPABASE_STATE = {
    "auth objects": """
        SELECT c.relname, c.relkind::text, pg_get_userbyid(c.relowner) AS owner, c.relacl::text
        FROM pg_class c WHERE c.relnamespace = 'auth'::regnamespace ORDER BY 1""",
    "auth columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attacl::text
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'auth'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2""",
    "auth functions": """
        SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS body,
               pg_get_userbyid(p.proowner) AS owner, p.proacl::text
        FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace ORDER BY 1""",
    "auth policies and triggers": """
        SELECT 'policy ' || tablename || ' ' || policyname AS what FROM pg_policies WHERE schemaname = 'auth'
        UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'auth'::regnamespace ORDER BY 1""",
    "schemas": """
        SELECT nspname, pg_get_userbyid(nspowner) AS owner, nspacl::text FROM pg_namespace
        WHERE nspname IN ('auth', 'extensions') ORDER BY 1""",
    "roles": """
        SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls, rolconfig::text
        FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator',
                                        'supabase_auth_admin', 'supabase_owner', 'supabase_admin') ORDER BY 1""",
    "event triggers": """
        SELECT evtname, evtevent, pg_get_userbyid(evtowner) AS owner, evtfoid::regproc::text, evtenabled::text
        FROM pg_event_trigger ORDER BY 1""",
    "publications": """
        SELECT pubname, pg_get_userbyid(pubowner) AS owner, puballtables, pubinsert, pubupdate, pubdelete
        FROM pg_publication ORDER BY 1""",
    "memberships": """
        SELECT pg_get_userbyid(roleid) AS role, pg_get_userbyid(member) AS member FROM pg_auth_members
        WHERE pg_get_userbyid(roleid) IN ('anon', 'authenticated', 'service_role', 'supabase_auth_admin')
        ORDER BY 1, 2""",
    "extensions": """
        SELECT e.extname, n.nspname, e.extversion, pg_get_userbyid(e.extowner) AS owner
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1""",
    "extension objects": """
        SELECT count(*) AS objects FROM pg_proc WHERE pronamespace = 'extensions'::regnamespace""",
    # Every role's, in every schema and globally: the project's grants of new public objects to the
    # API roles among them (the migration runner sets them aside for a run and puts them back).
    "default privileges": """
        SELECT pg_get_userbyid(defaclrole) AS role, defaclnamespace::regnamespace::text AS schema,
               defaclobjtype::text, defaclacl::text
        FROM pg_default_acl ORDER BY 1, 2, 3""",
    "role settings": """
        SELECT setrole::regrole::text, setdatabase, setconfig::text FROM pg_db_role_setting ORDER BY 1, 2""",
}


async def supabase_state(admin_dsn: str) -> dict[str, list[tuple]]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in _SUPABASE_STATE.items()}
    finally:
        await conn.close()


async def sign_up_with_discord(
    admin_dsn: str, discord_id: str, *, name: str = "member", metadata: dict | None = None
) -> str:
    """What Supabase Auth does when someone signs in with Discord for the first time: an auth user
    (their editable user_metadata, by default the provider's copy) and a `discord` identity with
    provider_id = their Discord id. Returns the auth user id (the JWT's `sub`)."""
    sub = uuid.uuid4()
    identity = {"sub": discord_id, "provider_id": discord_id, "name": name, "full_name": name, "email_verified": True}
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            """INSERT INTO auth.users (id, aud, role, raw_app_meta_data, raw_user_meta_data)
               VALUES ($1, 'authenticated', 'authenticated', $2::jsonb, $3::jsonb)""",
            sub,
            json.dumps({"provider": "discord", "providers": ["discord"]}),
            json.dumps(metadata if metadata is not None else identity),
        )
        await conn.execute(
            """INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
               VALUES ($1, $2, $3::jsonb, 'discord')""",
            discord_id,
            sub,
            json.dumps(identity),
        )
    finally:
        await conn.close()
    return str(sub)


def claims_for(sub: str, *, metadata: dict | None = None) -> dict:
    """The JWT claims Supabase Auth issues a signed-in user (role authenticated)."""
    return {
        "sub": sub,
        "role": "authenticated",
        "aud": "authenticated",
        "user_metadata": metadata or {},
        "app_metadata": {"provider": "discord"},
    }


async def postgrest(conn: asyncpg.Connection, role: str, claims: dict, sql: str, *args: object) -> list:
    """A request the way PostgREST makes it: one transaction, SET LOCAL ROLE, the claims as a
    transaction-local setting, then the query."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {role}")
        await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", json.dumps(claims))
        return await conn.fetch(sql, *args)


# What each API role may do with every table, view, sequence, column and function in `public`, as
# PostgreSQL answers it (has_*_privilege: its own grants and PUBLIC's, however they were given).
_API_PRIVILEGES = """
WITH api(role) AS (VALUES ('anon'), ('authenticated'), ('service_role')),
relations AS (
  SELECT c.oid, c.relname, c.relkind FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
)
SELECT api.role, r.relname AS object, p.privilege
  FROM relations r CROSS JOIN api
 CROSS JOIN LATERAL unnest(CASE WHEN r.relkind = 'S' THEN ARRAY['SELECT', 'UPDATE', 'USAGE']
   ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) AS p(privilege)
 WHERE CASE WHEN r.relkind = 'S' THEN has_sequence_privilege(api.role, r.oid, p.privilege)
            ELSE has_table_privilege(api.role, r.oid, p.privilege) END
UNION ALL
SELECT api.role, r.relname || '.' || a.attname, p.privilege
  FROM relations r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
 CROSS JOIN api CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) AS p(privilege)
 WHERE r.relkind <> 'S' AND has_column_privilege(api.role, r.oid, a.attnum, p.privilege)
   AND NOT has_table_privilege(api.role, r.oid, p.privilege)
UNION ALL
SELECT api.role, f.oid::regprocedure::text, 'EXECUTE'
  FROM pg_proc f CROSS JOIN api
 WHERE f.pronamespace = 'public'::regnamespace AND has_function_privilege(api.role, f.oid, 'EXECUTE')
ORDER BY 1, 2, 3
"""


async def api_privileges(dsn: str) -> list[tuple[str, str, str]]:
    """(role, object, privilege) for every privilege an API role holds in `public` of `dsn`'s database."""
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(_API_PRIVILEGES)]
    finally:
        await conn.close()

"""Row level security as the website's API roles see it."""

from __future__ import annotations

import json

import asyncpg
import pytest

from db import notifications
from tests.factories import join, make_member, sign_in_with_discord


async def as_role(conn, role: str, claims: dict, sql: str, *args):
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {role}")
        await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", json.dumps(claims))
        return await conn.fetch(sql, *args)


@pytest.fixture
async def community(conn):
    a = await make_member(conn, "alice")
    b = await make_member(conn, "bob")
    c = await make_member(conn, "carol")
    await conn.execute(
        "UPDATE user_profiles SET preferences = preferences || '{\"public_profile\": false}' WHERE user_id = $1",
        c,
    )
    for user in (a, b, c):
        await notifications.notify(conn, user, f"hello {user}")
    await conn.execute(
        "INSERT INTO moderation_logs (moderator_id, target_user_id, action) VALUES ($1, $2, 'warn')", b, a
    )
    return a, b, c


async def test_a_member_sees_only_their_own_notifications(conn, community):
    a, _, _ = community
    rows = await as_role(
        conn, "authenticated", await sign_in_with_discord(conn, a), "SELECT user_id FROM notifications"
    )
    assert [r["user_id"] for r in rows] == [a]


async def test_a_member_sees_every_public_profile_and_their_own(conn, community):
    a, b, c = community
    rows = await as_role(
        conn, "authenticated", await sign_in_with_discord(conn, a), "SELECT user_id FROM user_profiles"
    )
    assert {r["user_id"] for r in rows} == {a, b}
    own = await as_role(conn, "authenticated", await sign_in_with_discord(conn, c), "SELECT user_id FROM user_profiles")
    assert {r["user_id"] for r in own} == {a, b, c}


async def test_a_member_sees_their_own_user_row_and_no_moderation_logs(conn, community):
    a, _, _ = community
    claims = await sign_in_with_discord(conn, a)
    assert [r["id"] for r in await as_role(conn, "authenticated", claims, "SELECT id FROM users")] == [a]
    assert await as_role(conn, "authenticated", claims, "SELECT * FROM moderation_logs") == []


async def test_anonymous_visitors_see_public_profiles_only(conn, community):
    rows = await as_role(conn, "anon", {"role": "anon"}, "SELECT user_id FROM user_profiles")
    assert len(rows) == 2
    assert await as_role(conn, "anon", {"role": "anon"}, "SELECT * FROM notifications") == []


async def test_the_service_role_sees_everything(conn, community):
    claims = {"role": "service_role"}
    assert len(await as_role(conn, "service_role", claims, "SELECT * FROM notifications")) == 3
    assert len(await as_role(conn, "service_role", claims, "SELECT * FROM moderation_logs")) == 1
    assert len(await as_role(conn, "service_role", claims, "SELECT * FROM users")) == 3
    assert len(await as_role(conn, "service_role", claims, "SELECT * FROM user_profiles")) == 3


async def test_a_member_cannot_write_other_tables(conn, community):
    a, _, _ = community
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_role(
            conn, "authenticated", await sign_in_with_discord(conn, a), "UPDATE user_profiles SET total_xp = 1000000"
        )


# What the website may read (with the policies of 005 and 010); everything else is invisible to it.
WEBSITE_READS = {
    "users",
    "user_profiles",
    "pathway_progress",
    "notifications",
    "content",
    "moderation_logs",
    "events",
    "event_registrations",
    "achievements",
    "user_achievements",
    "server_stats",
    "server_stats_daily",
}
# Tables whose own rows a member may update (the column that says whose a row is).
OWN_ROWS_WRITABLE = {"notifications": "user_id", "user_profiles": "user_id"}
NEVER_VISIBLE = {"outbox", "staff_roles", "xp_ledger", "xp_period_totals", "admin_logs", "rank_titles", "dead_letters"}


async def _public_tables(conn) -> list[str]:
    rows = await conn.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname"
    )
    return [r["relname"] for r in rows]


async def _attempt(conn, role: str, claims: dict, sql: str) -> list | None:
    """Run `sql` as the role; None when refused outright (permission or RLS), else the rows."""
    try:
        return await as_role(conn, role, claims, sql)
    except asyncpg.InsufficientPrivilegeError:
        return None


async def test_every_table_denies_the_api_roles_by_default_even_with_supabase_grants(conn, community):
    a, b, _ = community
    # Rows in the tables the website must never see.
    await join(conn, a, "gaming")
    await conn.execute("SELECT award_xp($1, 'gaming', 50)", a)
    await conn.execute(
        "INSERT INTO admin_logs (admin_id, action, target_type, target_id) VALUES ($1, 'x', 'user', $2)", b, a
    )
    await conn.execute("INSERT INTO outbox (kind, payload) VALUES ('add_role', '{\"role_id\": \"1\"}')")
    await conn.execute("INSERT INTO dead_letters (kind, payload, error) VALUES ('xp_grant', '{}', 'test')")
    await conn.execute(
        "INSERT INTO xp_period_totals (period, period_start, pathway, user_id, xp) VALUES ('week', CURRENT_DATE, '', $1, 5)",
        a,
    )
    # Supabase's default privileges: its API roles get ALL on every public table.
    await conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated")
    tables = await _public_tables(conn)
    assert set(tables) >= NEVER_VISIBLE
    rls = {
        r["relname"]
        for r in await conn.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace='public'::regnamespace AND relrowsecurity"
        )
    }
    assert set(tables) <= rls, f"RLS off on {set(tables) - rls}"

    for role, claims in (("anon", {"role": "anon"}), ("authenticated", await sign_in_with_discord(conn, a))):
        for table in tables:
            owner_rows = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
            seen = await _attempt(conn, role, claims, f'SELECT * FROM "{table}"')
            if table not in WEBSITE_READS:
                assert not seen, f"{role} reads {table}"
            if table in NEVER_VISIBLE:
                assert owner_rows > 0, f"seed {table} so that the check means something"
            inserted = await _attempt(conn, role, claims, f'INSERT INTO "{table}" DEFAULT VALUES RETURNING 1')
            assert inserted is None, f"{role} inserted into {table}"
            deleted = await _attempt(conn, role, claims, f'DELETE FROM "{table}" RETURNING 1')
            assert not deleted, f"{role} deleted from {table}"
            first = await conn.fetchval(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum = 1", table
            )
            updated = await _attempt(conn, role, claims, f'UPDATE "{table}" SET "{first}" = "{first}" RETURNING 1')
            if table in OWN_ROWS_WRITABLE and role == "authenticated":
                # Their own rows only (marking notifications read, their preferences; the column
                # grants, which this test widened, keep it to those columns).
                own = await conn.fetchval(f'SELECT count(*) FROM "{table}" WHERE {OWN_ROWS_WRITABLE[table]} = $1', a)
                assert own > 0 and len(updated or []) == own
            else:
                assert not updated, f"{role} updated {table}"
            assert await conn.fetchval(f'SELECT count(*) FROM "{table}"') == owner_rows


async def test_a_private_profile_hides_its_pathways_too(conn, community):
    a, _, c = community
    for member in (c, a):
        await join(conn, member, "gaming")
        await conn.execute("SELECT award_xp($1, 'gaming', 50)", member)
    seen = await as_role(
        conn, "authenticated", await sign_in_with_discord(conn, a), "SELECT user_id FROM pathway_progress"
    )
    assert {r["user_id"] for r in seen} == {a}
    own = await as_role(
        conn, "authenticated", await sign_in_with_discord(conn, c), "SELECT user_id FROM pathway_progress"
    )
    assert {r["user_id"] for r in own} == {a, c}


async def test_the_api_roles_cannot_move_xp_through_functions(conn, community):
    a, _, _ = community
    for role in ("anon", "authenticated"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_role(conn, role, {"sub": a, "role": role}, "SELECT award_xp($1, NULL, 100000)", a)


async def test_the_ledger_refuses_delete_but_an_erased_account_takes_its_rows(conn, community):
    a, b, _ = community
    await conn.execute("SELECT award_xp($1, NULL, 50)", a)
    await conn.execute("SELECT award_xp($1, NULL, 50)", b)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("DELETE FROM xp_ledger WHERE user_id = $1", a)
    await conn.execute("DELETE FROM users WHERE id = $1", a)
    assert await conn.fetchval("SELECT count(*) FROM xp_ledger WHERE user_id = $1", a) == 0
    assert await conn.fetchval("SELECT count(*) FROM xp_ledger WHERE user_id = $1", b) == 1

"""Row level security as the website's API roles see it."""

from __future__ import annotations

import json

import asyncpg
import pytest

from db import notifications
from tests.factories import make_member


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
        conn, "authenticated", {"sub": a, "role": "authenticated"}, "SELECT user_id FROM notifications"
    )
    assert [r["user_id"] for r in rows] == [a]


async def test_a_member_sees_every_public_profile_and_their_own(conn, community):
    a, b, c = community
    rows = await as_role(
        conn, "authenticated", {"sub": a, "role": "authenticated"}, "SELECT user_id FROM user_profiles"
    )
    assert {r["user_id"] for r in rows} == {a, b}
    own = await as_role(conn, "authenticated", {"sub": c, "role": "authenticated"}, "SELECT user_id FROM user_profiles")
    assert {r["user_id"] for r in own} == {a, b, c}


async def test_a_member_sees_their_own_user_row_and_no_moderation_logs(conn, community):
    a, _, _ = community
    claims = {"sub": a, "role": "authenticated"}
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
        await as_role(conn, "authenticated", {"sub": a}, "UPDATE user_profiles SET total_xp = 1000000")

"""Small builders for test rows, through the real data-access layer."""

from __future__ import annotations

import itertools
import uuid

import asyncpg

from db.types import Executor
from db.users import MemberSnapshot, upsert_member
from db.xp import join_pathway

_ids = itertools.count(100_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


async def make_member(
    conn: Executor, name: str = "member", *, roles: tuple[str, ...] = (), pathways: tuple[str, ...] = (), **kw: object
) -> str:
    """A member (joined to `pathways`: pathway XP goes to a pathway's members only)."""
    user_id = await upsert_member(conn, MemberSnapshot(discord_id=snowflake(), username=name, roles=roles, **kw))
    for pathway in pathways:
        await join(conn, user_id, pathway)
    return user_id


async def join(conn: Executor, user_id: str, pathway: str) -> None:
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            await join_pathway(c, user_id, pathway)
    else:
        await join_pathway(conn, user_id, pathway)


async def sign_in_with_discord(conn: Executor, user_id: str, *, metadata_discord_id: str | None = None) -> dict:
    """The JWT claims of a member signed in to the website with Discord, as Supabase Auth issues them:
    `sub` is their auth user id, and the auth server records their Discord id in auth.identities (on
    Supabase also in auth.users; `metadata_discord_id` is what they may have written into their own
    editable user_metadata, which proves nothing)."""
    discord_id = await conn.fetchval("SELECT discord_id FROM users WHERE id = $1", user_id)
    known = await conn.fetchval(
        "SELECT user_id::text FROM auth.identities WHERE provider = 'discord' AND provider_id = $1", discord_id
    )
    if known is not None:
        return {"sub": known, "role": "authenticated"}
    sub = str(uuid.uuid4())
    if await conn.fetchval("SELECT to_regclass('auth.users') IS NOT NULL"):
        meta = {"provider_id": metadata_discord_id or discord_id, "sub": metadata_discord_id or discord_id}
        await conn.execute(
            "INSERT INTO auth.users (id, raw_user_meta_data, role) VALUES ($1, $2, 'authenticated')",
            sub,
            meta,
        )
    await conn.execute(
        """INSERT INTO auth.identities (user_id, provider, provider_id, identity_data)
           VALUES ($1, 'discord', $2, $3)""",
        sub,
        discord_id,
        {"sub": discord_id, "name": "member", "provider_id": discord_id},
    )
    return {"sub": sub, "role": "authenticated", "user_metadata": {"provider_id": metadata_discord_id or discord_id}}

"""Members and their profiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.types import Executor


@dataclass(frozen=True)
class MemberSnapshot:
    """What Discord tells us about a member, in the database's terms (ids as text)."""

    discord_id: str
    username: str
    global_name: str | None = None
    nickname: str | None = None
    avatar: str | None = None
    avatar_url: str | None = None
    roles: Sequence[str] = ()
    in_server: bool = True
    joined_at: datetime | None = None
    server_booster: bool = False
    boost_since: datetime | None = None


@dataclass(frozen=True)
class Profile:
    user_id: str
    discord_id: str
    username: str
    display_name: str | None
    total_xp: int
    level: int
    message_count: int
    voice_minutes: int
    events_attended: int
    tournaments_won: int
    activity_score: int
    achievements: list[str]
    in_server: bool
    pathways: list[str]
    primary_pathway: str | None


# in_server is the snapshot's, as the bot saw the member: a departure the bot recorded after the
# object it holds was made (a message's author flushed after they left, a kicked member's case) is
# in the snapshot already (bot/core/identity.py keeps the departures it records), so a stale object never
# brings a member back, and a row written `false` by the website (claim_member) is put right by the
# bot's next write from the member in the server.
UPSERT_MEMBER = """
INSERT INTO users AS u (discord_id, username, global_name, nickname, avatar, avatar_url, roles,
                        in_server, joined_at, server_booster, boost_since, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, NOW()), $10, $11, NOW())
ON CONFLICT (discord_id) DO UPDATE SET
  username = EXCLUDED.username,
  global_name = EXCLUDED.global_name,
  nickname = EXCLUDED.nickname,
  avatar = EXCLUDED.avatar,
  avatar_url = EXCLUDED.avatar_url,
  roles = EXCLUDED.roles,
  in_server = EXCLUDED.in_server,
  joined_at = COALESCE($9, u.joined_at),
  server_booster = EXCLUDED.server_booster,
  boost_since = EXCLUDED.boost_since,
  last_seen = NOW()
RETURNING id
"""
JOIN_MEMBER = UPSERT_MEMBER
# The same, saying whether the row is new (xmax is 0 on a row version the statement inserted).
_JOIN_INSERTED = UPSERT_MEMBER.replace("RETURNING id", "RETURNING id, xmax = 0 AS inserted")


def _upsert_args(member: MemberSnapshot) -> tuple:
    """UPSERT_MEMBER's parameters, $1..$11."""
    return (
        member.discord_id,
        member.username,
        member.global_name,
        member.nickname,
        member.avatar,
        member.avatar_url,
        list(member.roles),
        member.in_server,
        member.joined_at,
        member.server_booster,
        member.boost_since,
    )


async def upsert_member(conn: Executor, member: MemberSnapshot) -> str:
    """Create or refresh the member's users row (and, through the trigger, profile); returns users.id."""
    return await conn.fetchval(
        UPSERT_MEMBER,
        *_upsert_args(member),
    )


async def upsert_non_member(conn: Executor, member: MemberSnapshot) -> str:
    """Create or refresh the row of someone met outside the server (a banned user, a DM, a lookup by
    id): names and avatar only. Their membership, roles and join date are the member sync's and the
    join and leave events' to say, so a lookup never brings a departed member back onto the boards."""
    return await conn.fetchval(
        """INSERT INTO users AS u (discord_id, username, global_name, avatar, avatar_url, in_server)
           VALUES ($1, $2, $3, $4, $5, false)
           ON CONFLICT (discord_id) DO UPDATE SET
             username = EXCLUDED.username, global_name = EXCLUDED.global_name,
             avatar = EXCLUDED.avatar, avatar_url = EXCLUDED.avatar_url
           RETURNING id""",
        member.discord_id,
        member.username,
        member.global_name,
        member.avatar,
        member.avatar_url,
    )


async def upsert_members(conn: asyncpg.Connection, members: Sequence[MemberSnapshot]) -> dict[str, str]:
    """Upsert many members in one statement; returns discord_id -> users.id."""
    if not members:
        return {}
    rows = await conn.fetch(
        """
        INSERT INTO users AS u (discord_id, username, global_name, nickname, avatar, avatar_url, roles,
                                in_server, joined_at, server_booster, boost_since)
        SELECT m.discord_id, m.username, m.global_name, m.nickname, m.avatar, m.avatar_url,
               COALESCE(m.roles, '{}'), m.in_server, COALESCE(m.joined_at, NOW()), m.server_booster,
               m.boost_since
        FROM jsonb_to_recordset($1::jsonb) AS m(discord_id text, username text, global_name text,
             nickname text, avatar text, avatar_url text, roles text[], in_server boolean,
             joined_at timestamptz, server_booster boolean, boost_since timestamptz)
        ON CONFLICT (discord_id) DO UPDATE SET
          username = EXCLUDED.username, global_name = EXCLUDED.global_name,
          nickname = EXCLUDED.nickname, avatar = EXCLUDED.avatar, avatar_url = EXCLUDED.avatar_url,
          roles = EXCLUDED.roles, in_server = EXCLUDED.in_server,
          server_booster = EXCLUDED.server_booster, boost_since = EXCLUDED.boost_since
        RETURNING discord_id, id
        """,
        [{**_snapshot_json(m), "in_server": m.in_server} for m in members],
    )
    return {r["discord_id"]: r["id"] for r in rows}


async def mark_left(conn: Executor, discord_id: str) -> str | None:
    """Mark the member gone; returns their users.id when they were in the server until now. The
    row is read locked, so of two processes told of one departure (a handover) one is answered."""
    return await conn.fetchval(
        """UPDATE users SET in_server = false
             FROM (SELECT id, in_server AS was FROM users WHERE discord_id = $1 FOR UPDATE) prev
           WHERE users.id = prev.id RETURNING CASE WHEN prev.was THEN users.id END""",
        discord_id,
    )


@dataclass(frozen=True)
class Joined:
    user_id: str
    returning: bool  # the row existed and was marked gone
    first: bool  # this call recorded this join (False: another process told of it first, at a handover)


async def mark_joined(conn: asyncpg.Connection, member: MemberSnapshot) -> Joined:
    """Upsert a member who just joined, in the caller's transaction, on the row read locked first
    (a locking read in the upsert's own statement skips the row the upsert changes), so concurrent
    handlers (two processes told of one join at a handover) cannot race: one of them is `first`
    (the row is new, or was gone, or held another join date: a join not recorded yet)."""
    prev = await conn.fetchrow(
        "SELECT in_server, joined_at FROM users WHERE discord_id = $1 FOR UPDATE", member.discord_id
    )
    row = await conn.fetchrow(_JOIN_INSERTED, *_upsert_args(member))
    returning = prev is not None and not prev["in_server"]
    first = row["inserted"] or (
        prev is not None
        and (not prev["in_server"] or member.joined_at is None or prev["joined_at"] != member.joined_at)
    )
    return Joined(row["id"], returning, first)


async def discord_id_for(conn: Executor, user_id: str) -> str | None:
    return await conn.fetchval("SELECT discord_id FROM users WHERE id = $1", user_id)


async def exists(conn: Executor, user_id: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id)


async def user_id_for(conn: Executor, discord_id: str) -> str | None:
    return await conn.fetchval("SELECT id FROM users WHERE discord_id = $1", discord_id)


PROFILE = """
SELECT u.id AS user_id, u.discord_id, u.username, up.display_name, up.total_xp, up.level,
       up.message_count, up.voice_minutes, up.events_attended, up.tournaments_won,
       up.activity_score, up.achievements, u.in_server, u.pathways, u.primary_pathway
FROM users u JOIN user_profiles up ON up.user_id = u.id
"""


def _profile(row: asyncpg.Record | None) -> Profile | None:
    return Profile(**dict(row)) if row is not None else None


async def get_profile(conn: Executor, user_id: str) -> Profile | None:
    return _profile(await conn.fetchrow(PROFILE + " WHERE u.id = $1", user_id))


async def get_profile_by_discord_id(conn: Executor, discord_id: str) -> Profile | None:
    return _profile(await conn.fetchrow(PROFILE + " WHERE u.discord_id = $1", discord_id))


async def sync_staff_roles(conn: asyncpg.Connection, role_ids: Sequence[str]) -> None:
    """Make staff_roles hold exactly the configured role ids (what is_staff() reads)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM staff_roles WHERE NOT (role_id = ANY($1::text[]))", list(role_ids))
        await conn.execute(
            "INSERT INTO staff_roles (role_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            list(role_ids),
        )


@dataclass(frozen=True)
class SyncCounts:
    mapping: dict[str, str]  # discord_id -> users.id, every member given
    new: int
    updated: int
    left: int


async def sync_members(conn: asyncpg.Connection, members: Sequence[MemberSnapshot]) -> SyncCounts:
    """A full member sync in one transaction: every member's row made to match Discord (only rows that
    differ are written), rows of people no longer in the server marked out of it."""
    rows = await conn.fetch(
        """
        WITH input AS (
          SELECT * FROM jsonb_to_recordset($1::jsonb) AS m(discord_id text, username text, global_name text,
               nickname text, avatar text, avatar_url text, roles text[], joined_at timestamptz,
               server_booster boolean, boost_since timestamptz)),
        written AS (
          INSERT INTO users AS u (discord_id, username, global_name, nickname, avatar, avatar_url, roles,
                                  in_server, joined_at, server_booster, boost_since)
          SELECT i.discord_id, i.username, i.global_name, i.nickname, i.avatar, i.avatar_url,
                 COALESCE(i.roles, '{}'), true, COALESCE(i.joined_at, NOW()), i.server_booster, i.boost_since
          FROM input i
          ON CONFLICT (discord_id) DO UPDATE SET
            username = EXCLUDED.username, global_name = EXCLUDED.global_name, nickname = EXCLUDED.nickname,
            avatar = EXCLUDED.avatar, avatar_url = EXCLUDED.avatar_url, roles = EXCLUDED.roles, in_server = true,
            joined_at = EXCLUDED.joined_at, server_booster = EXCLUDED.server_booster,
            boost_since = EXCLUDED.boost_since
          WHERE (u.username, u.global_name, u.nickname, u.avatar, u.avatar_url, u.roles, u.in_server, u.joined_at,
                 u.server_booster, u.boost_since)
                IS DISTINCT FROM
                (EXCLUDED.username, EXCLUDED.global_name, EXCLUDED.nickname, EXCLUDED.avatar, EXCLUDED.avatar_url,
                 EXCLUDED.roles, true, EXCLUDED.joined_at, EXCLUDED.server_booster, EXCLUDED.boost_since)
          RETURNING u.discord_id, u.id, (u.xmax = 0) AS inserted)
        SELECT i.discord_id, COALESCE(w.id, u.id) AS id, w.inserted
        FROM input i LEFT JOIN written w ON w.discord_id = i.discord_id
        LEFT JOIN users u ON u.discord_id = i.discord_id
        """,
        [_snapshot_json(m) for m in members],
    )
    mapping = {r["discord_id"]: r["id"] for r in rows}
    left = await mark_absent_except(conn, list(mapping))
    return SyncCounts(
        mapping,
        new=sum(1 for r in rows if r["inserted"] is True),
        updated=sum(1 for r in rows if r["inserted"] is False),
        left=left,
    )


def _snapshot_json(m: MemberSnapshot) -> dict[str, object]:
    return {
        "discord_id": m.discord_id,
        "username": m.username,
        "global_name": m.global_name,
        "nickname": m.nickname,
        "avatar": m.avatar,
        "avatar_url": m.avatar_url,
        "roles": list(m.roles),
        "joined_at": m.joined_at.isoformat() if m.joined_at else None,
        "server_booster": m.server_booster,
        "boost_since": m.boost_since.isoformat() if m.boost_since else None,
    }


async def is_staff(conn: Executor, user_id: str) -> bool:
    return await conn.fetchval("SELECT is_staff($1)", user_id)


async def has_role(conn: Executor, user_id: str, role_id: str) -> bool:
    return await conn.fetchval("SELECT has_role($1, $2)", user_id, role_id)


async def mark_absent_except(conn: Executor, present_discord_ids: Sequence[str]) -> int:
    """After a full member sync: everyone not in the guild now is marked as gone."""
    status = await conn.execute(
        "UPDATE users SET in_server = false WHERE in_server AND NOT (discord_id = ANY($1::text[]))",
        list(present_discord_ids),
    )
    return int(status.split()[-1])

"""Moderation cases (the guide's moderation_logs, numbered per guild without gaps) and the sanctions
they put in force (bans, timeouts, mutes), one active per member and kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.types import Executor


@dataclass(frozen=True)
class Case:
    id: int
    number: int
    moderator_id: str | None
    target_user_id: str | None
    action: str
    reason: str | None
    duration: int | None  # minutes
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Sanction:
    id: int
    case_id: int
    guild_id: str
    target_discord_id: str
    kind: str
    expires_at: datetime | None
    status: str


_CASE_COLUMNS = """id, (metadata ->> 'case_number')::integer AS number, moderator_id, target_user_id, action,
                   reason, duration, metadata, created_at"""


async def open_case(
    conn: asyncpg.Connection,
    *,
    guild_id: str,
    moderator_id: str | None,
    target_user_id: str | None,
    action: str,
    reason: str | None,
    duration_minutes: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Case:
    """Record one action as the guild's next case; call inside the action's transaction. The counter
    row stays locked until the transaction ends and a rollback undoes the number: no gaps."""
    number = await conn.fetchval(
        """INSERT INTO moderation_case_counters AS c (guild_id, last_case) VALUES ($1, 1)
           ON CONFLICT (guild_id) DO UPDATE SET last_case = c.last_case + 1
           RETURNING last_case""",
        guild_id,
    )
    row = await conn.fetchrow(
        f"""INSERT INTO moderation_logs (moderator_id, target_user_id, action, reason, duration, metadata)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING {_CASE_COLUMNS}""",
        moderator_id,
        target_user_id,
        action,
        reason,
        duration_minutes,
        {**(metadata or {}), "guild_id": guild_id, "case_number": number},
    )
    return Case(**dict(row))


async def case_by_number(conn: Executor, guild_id: str, number: int) -> Case | None:
    row = await conn.fetchrow(
        f"""SELECT {_CASE_COLUMNS} FROM moderation_logs
            WHERE metadata ? 'case_number' AND metadata ->> 'guild_id' = $1
              AND (metadata ->> 'case_number')::integer = $2""",
        guild_id,
        number,
    )
    return Case(**dict(row)) if row else None


async def history(
    conn: Executor,
    guild_id: str,
    target_user_id: str,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 10,
) -> list[Case]:
    """A member's cases, newest first: the page strictly before case `before`, or the page strictly
    after case `after` (keyset paging both ways; each reads one index range)."""
    if after is not None:
        rows = await conn.fetch(
            f"""SELECT * FROM (
                  SELECT {_CASE_COLUMNS} FROM moderation_logs
                  WHERE target_user_id = $1 AND metadata ? 'case_number' AND metadata ->> 'guild_id' = $2
                    AND (metadata ->> 'case_number')::integer > $3
                  ORDER BY (metadata ->> 'case_number')::integer ASC
                  LIMIT $4) page
                ORDER BY number DESC""",
            target_user_id,
            guild_id,
            after,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"""SELECT {_CASE_COLUMNS} FROM moderation_logs
                WHERE target_user_id = $1 AND metadata ? 'case_number' AND metadata ->> 'guild_id' = $2
                  AND ($3::integer IS NULL OR (metadata ->> 'case_number')::integer < $3)
                ORDER BY (metadata ->> 'case_number')::integer DESC
                LIMIT $4""",
            target_user_id,
            guild_id,
            before,
            limit,
        )
    return [Case(**dict(r)) for r in rows]


@dataclass(frozen=True)
class HistoryPage:
    cases: list[Case]
    active_points: int
    has_newer: bool
    has_older: bool


async def history_page(
    conn: Executor, guild_id: str, target_user_id: str, *, before: int | None = None, after: int | None = None
) -> HistoryPage:
    """What one /mod history page shows: 10 cases, the member's active points, and whether there
    are newer and older cases (for the buttons)."""
    cases = await history(conn, guild_id, target_user_id, before=before, after=after, limit=10)
    points = await active_points(conn, guild_id, target_user_id)
    if not cases:
        return HistoryPage(cases, points, False, False)
    newer = await history(conn, guild_id, target_user_id, after=cases[0].number, limit=1)
    older = await history(conn, guild_id, target_user_id, before=cases[-1].number, limit=1)
    return HistoryPage(cases, points, bool(newer), bool(older))


_SANCTION_COLUMNS = "id, case_id, guild_id, target_discord_id, kind, expires_at, status"


async def start_sanction(
    conn: asyncpg.Connection,
    *,
    case_id: int,
    guild_id: str,
    target_discord_id: str,
    kind: str,
    expires_at: datetime | None,
) -> tuple[Sanction, list[Sanction]]:
    """Put a sanction in force; the member's active one of the same kind (if any) is superseded by
    it, so its expiry can never lift this one. Returns (the new sanction, the superseded ones)."""
    superseded = await conn.fetch(
        f"""UPDATE moderation_sanctions SET status = 'superseded', ended_at = NOW(), ended_by_case = $4
            WHERE guild_id = $1 AND target_discord_id = $2 AND kind = $3 AND status = 'active'
            RETURNING {_SANCTION_COLUMNS}""",
        guild_id,
        target_discord_id,
        kind,
        case_id,
    )
    row = await conn.fetchrow(
        f"""INSERT INTO moderation_sanctions (case_id, guild_id, target_discord_id, kind, expires_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_SANCTION_COLUMNS}""",
        case_id,
        guild_id,
        target_discord_id,
        kind,
        expires_at,
    )
    return Sanction(**dict(row)), [Sanction(**dict(r)) for r in superseded]


async def end_sanction(
    conn: Executor, sanction_id: int, *, status: str, ended_by_case: int | None = None
) -> Sanction | None:
    """End a sanction that is still active (expired, lifted, voided, or failed: Discord refused to
    apply it); None when it was not active (already ended, or superseded by a newer one): nothing
    to lift then."""
    if status not in ("expired", "lifted", "voided", "failed"):
        raise ValueError(f"a sanction ends as expired, lifted, voided or failed, not {status!r}")
    row = await conn.fetchrow(
        f"""UPDATE moderation_sanctions SET status = $2, ended_at = NOW(), ended_by_case = $3
            WHERE id = $1 AND status = 'active' RETURNING {_SANCTION_COLUMNS}""",
        sanction_id,
        status,
        ended_by_case,
    )
    return Sanction(**dict(row)) if row else None


async def restore_superseded(conn: Executor, case_id: int) -> list[Sanction]:
    """The sanctions a case superseded, in force again (the case's own failed: Discord still applies
    the older one), unless a newer one of that kind is in force by now."""
    rows = await conn.fetch(
        f"""UPDATE moderation_sanctions s SET status = 'active', ended_at = NULL, ended_by_case = NULL
            WHERE s.ended_by_case = $1 AND s.status = 'superseded'
              AND NOT EXISTS (SELECT 1 FROM moderation_sanctions n
                              WHERE n.guild_id = s.guild_id AND n.target_discord_id = s.target_discord_id
                                AND n.kind = s.kind AND n.status = 'active')
            RETURNING {_SANCTION_COLUMNS}""",
        case_id,
    )
    return [Sanction(**dict(r)) for r in rows]


RECONCILED_KEY = "bans.first_reconciled_at"  # community_settings: Discord's bans compared once already


async def first_reconcile(conn: asyncpg.Connection, guild_id: str, *, claim: bool = False) -> bool:
    """Whether Discord's bans were never compared with the record (a fresh install: no such run and
    no case on record yet). `claim`: mark it done, in the caller's transaction (True only for the
    transaction that marks it)."""
    if claim:
        marked = await conn.fetchval(
            """INSERT INTO community_settings (key, value) VALUES ($1, to_jsonb(NOW())::text)
               ON CONFLICT (key) DO NOTHING RETURNING key""",
            RECONCILED_KEY,
        )
        return marked is not None and not await _any_case(conn, guild_id)
    done = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM community_settings WHERE key = $1)", RECONCILED_KEY)
    if done:
        return False
    if await _any_case(conn, guild_id):  # a bot that kept records before this was kept: not a first start
        await conn.execute(
            """INSERT INTO community_settings (key, value) VALUES ($1, to_jsonb(NOW())::text)
               ON CONFLICT (key) DO NOTHING""",
            RECONCILED_KEY,
        )
        return False
    return True


async def _any_case(conn: Executor, guild_id: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM moderation_logs WHERE metadata ? 'case_number' AND metadata ->> 'guild_id' = $1)",
        guild_id,
    )


async def active_sanction(
    conn: Executor, guild_id: str, target_discord_id: str, kind: str, *, lock: bool = False
) -> Sanction | None:
    """The member's sanction of this kind in force, if any (`lock`: locked until the transaction ends)."""
    row = await conn.fetchrow(
        f"""SELECT {_SANCTION_COLUMNS} FROM moderation_sanctions
            WHERE guild_id = $1 AND target_discord_id = $2 AND kind = $3 AND status = 'active'
            {"FOR UPDATE" if lock else ""}""",
        guild_id,
        target_discord_id,
        kind,
    )
    return Sanction(**dict(row)) if row else None


async def gave_mute_role(
    conn: Executor, guild_id: str, target_discord_id: str, role_id: str, *, in_force: bool
) -> bool:
    """Whether a mute of the member on record gave this role (kept on its case; `in_force`: a mute
    still in force): a mute role changed since is still given back on rejoin and taken back at the end."""
    return bool(
        await conn.fetchval(
            f"""SELECT EXISTS (
                    SELECT 1 FROM moderation_sanctions s JOIN moderation_logs c ON c.id = s.case_id
                    WHERE s.guild_id = $1 AND s.target_discord_id = $2 AND s.kind = 'mute'
                      AND c.metadata ->> 'mute_role_id' = $3 {"AND s.status = 'active'" if in_force else ""})""",
            guild_id,
            target_discord_id,
            role_id,
        )
    )


async def active_sanctions(conn: Executor, guild_id: str, kind: str) -> list[Sanction]:
    """Every sanction of this kind in force in the guild (what start-up compares with Discord's list)."""
    rows = await conn.fetch(
        f"""SELECT {_SANCTION_COLUMNS} FROM moderation_sanctions
            WHERE guild_id = $1 AND kind = $2 AND status = 'active' ORDER BY id""",
        guild_id,
        kind,
    )
    return [Sanction(**dict(r)) for r in rows]


async def record_dm(conn: Executor, case_id: int, *, sent: bool, error: str | None = None) -> None:
    """Whether the member's DM about a case arrived (metadata.dm_sent, and why not)."""
    await conn.execute(
        """UPDATE moderation_logs
           SET metadata = metadata || jsonb_build_object('dm_sent', $2::boolean)
                        || CASE WHEN $3::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('dm_error', $3::text) END
           WHERE id = $1""",
        case_id,
        sent,
        error,
    )


async def merge_metadata(conn: Executor, case_id: int, patch: dict[str, Any]) -> None:
    """Add or replace keys of a case's metadata (what an action learns after opening its case)."""
    await conn.execute("UPDATE moderation_logs SET metadata = metadata || $2::jsonb WHERE id = $1", case_id, patch)


async def case_by_id(conn: Executor, case_id: int) -> Case | None:
    row = await conn.fetchrow(f"SELECT {_CASE_COLUMNS} FROM moderation_logs WHERE id = $1", case_id)
    return Case(**dict(row)) if row else None


async def sanction_by_id(conn: Executor, sanction_id: int) -> Sanction | None:
    row = await conn.fetchrow(f"SELECT {_SANCTION_COLUMNS} FROM moderation_sanctions WHERE id = $1", sanction_id)
    return Sanction(**dict(row)) if row else None


async def lock_active_sanction(conn: asyncpg.Connection, sanction_id: int) -> Sanction | None:
    """The sanction, locked for the transaction, if it is still active."""
    row = await conn.fetchrow(
        f"SELECT {_SANCTION_COLUMNS} FROM moderation_sanctions WHERE id = $1 AND status = 'active' FOR UPDATE",
        sanction_id,
    )
    return Sanction(**dict(row)) if row else None


async def lock_member(conn: asyncpg.Connection, guild_id: str, discord_id: str) -> None:
    """Serialise changes to one member's warnings until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('moderation:' || $1 || ':' || $2, 0))", guild_id, discord_id
    )


async def lock_sanctions(conn: asyncpg.Connection, guild_id: str, discord_id: str) -> None:
    """Lock the member's sanctions in force (id order) until the transaction ends: what a warning
    that may escalate takes before its case number, so its escalation never waits for one of them
    while holding the counter (a lift, a void or an appeal holds the row, then takes the counter)."""
    await conn.execute(
        """SELECT 1 FROM moderation_sanctions
            WHERE guild_id = $1 AND target_discord_id = $2 AND status = 'active'
            ORDER BY id FOR UPDATE""",
        guild_id,
        discord_id,
    )


async def unban_recorded_since(conn: Executor, guild_id: str, discord_id: str, seconds: float) -> bool:
    """Whether an unban of the member is on record from the last `seconds` (a lift of their ban or
    an unban case of its own, by anyone): the same unban, seen again (two processes at a handover)."""
    return await conn.fetchval(
        """SELECT EXISTS (
             SELECT 1 FROM moderation_logs
              WHERE action = 'unban' AND created_at > NOW() - make_interval(secs => $3)
                AND metadata ->> 'guild_id' = $1 AND metadata ->> 'target_discord_id' = $2)""",
        guild_id,
        discord_id,
        seconds,
    )


_ACTIVE_WARNS = """
    FROM moderation_logs
    WHERE target_user_id = $2 AND action = 'warn' AND metadata ->> 'guild_id' = $1
      AND metadata ? 'points' AND NOT metadata ? 'voided'
      AND metadata ->> 'appeal_status' IS DISTINCT FROM 'accepted'
      AND (metadata ->> 'points_expire_at')::timestamptz > NOW()
"""


async def active_points(conn: Executor, guild_id: str, target_user_id: str) -> int:
    """The member's warning points that have not expired (and were not voided)."""
    return await conn.fetchval(
        f"SELECT COALESCE(sum((metadata ->> 'points')::integer), 0) {_ACTIVE_WARNS}", guild_id, target_user_id
    )


async def active_warn_numbers(conn: Executor, guild_id: str, target_user_id: str) -> list[int]:
    rows = await conn.fetch(
        f"SELECT (metadata ->> 'case_number')::integer AS n {_ACTIVE_WARNS} ORDER BY 1", guild_id, target_user_id
    )
    return [r["n"] for r in rows]


@dataclass(frozen=True)
class Revision:
    field: str
    old_value: str | None
    new_value: str | None
    editor_id: str | None
    created_at: datetime


async def lock_case(conn: asyncpg.Connection, guild_id: str, number: int) -> Case | None:
    row = await conn.fetchrow(
        f"""SELECT {_CASE_COLUMNS} FROM moderation_logs
            WHERE metadata ? 'case_number' AND metadata ->> 'guild_id' = $1
              AND (metadata ->> 'case_number')::integer = $2
            FOR UPDATE""",
        guild_id,
        number,
    )
    return Case(**dict(row)) if row else None


async def revise_case(
    conn: asyncpg.Connection,
    case_id: int,
    *,
    field: str,
    old_value: str | None,
    new_value: str | None,
    editor_id: str | None,
    reason: str | None = None,
    duration_minutes: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Change a case's reason, duration or metadata, keeping the previous value as a revision."""
    await conn.execute(
        """INSERT INTO moderation_case_revisions (case_id, field, old_value, new_value, editor_id)
           VALUES ($1, $2, $3, $4, $5)""",
        case_id,
        field,
        old_value,
        new_value,
        editor_id,
    )
    if field == "reason":
        await conn.execute("UPDATE moderation_logs SET reason = $2 WHERE id = $1", case_id, reason)
    elif field == "duration":
        await conn.execute(
            "UPDATE moderation_logs SET duration = $2, metadata = metadata || $3 WHERE id = $1",
            case_id,
            duration_minutes,
            metadata or {},
        )
    else:
        await conn.execute(
            "UPDATE moderation_logs SET metadata = metadata || $2 WHERE id = $1", case_id, metadata or {}
        )


async def revisions(conn: Executor, case_id: int) -> list[Revision]:
    rows = await conn.fetch(
        """SELECT field, old_value, new_value, editor_id, created_at FROM moderation_case_revisions
           WHERE case_id = $1 ORDER BY id""",
        case_id,
    )
    return [Revision(**dict(r)) for r in rows]


async def sanction_of_case(conn: asyncpg.Connection, case_id: int) -> Sanction | None:
    """The sanction a case put in force, locked, if it is still active."""
    row = await conn.fetchrow(
        f"SELECT {_SANCTION_COLUMNS} FROM moderation_sanctions WHERE case_id = $1 AND status = 'active' FOR UPDATE",
        case_id,
    )
    return Sanction(**dict(row)) if row else None


async def set_sanction_expiry(conn: Executor, sanction_id: int, expires_at: datetime | None) -> None:
    await conn.execute("UPDATE moderation_sanctions SET expires_at = $2 WHERE id = $1", sanction_id, expires_at)


async def recent_cases(conn: Executor, guild_id: str, *, starting_with: str = "", limit: int = 25) -> list[Case]:
    """The newest cases whose number starts with the digits typed so far (for autocomplete)."""
    rows = await conn.fetch(
        f"""SELECT {_CASE_COLUMNS} FROM moderation_logs
            WHERE metadata ? 'case_number' AND metadata ->> 'guild_id' = $1
              AND metadata ->> 'case_number' LIKE $2 || '%'
            ORDER BY (metadata ->> 'case_number')::integer DESC
            LIMIT $3""",
        guild_id,
        starting_with,
        limit,
    )
    return [Case(**dict(r)) for r in rows]


async def common_reasons(conn: Executor, guild_id: str, typed: str, *, recent: int = 500, limit: int = 25) -> list[str]:
    """The reasons the guild's latest `recent` cases used most, containing what was typed (case
    insensitive), each short enough to offer as a choice."""
    rows = await conn.fetch(
        """SELECT reason FROM (
             SELECT reason FROM moderation_logs
             WHERE metadata ? 'case_number' AND metadata ->> 'guild_id' = $1
             ORDER BY (metadata ->> 'case_number')::integer DESC
             LIMIT $3) latest
           WHERE reason IS NOT NULL AND length(reason) <= 100 AND strpos(lower(reason), lower($2)) > 0
           GROUP BY reason
           ORDER BY count(*) DESC, reason
           LIMIT $4""",
        guild_id,
        typed,
        recent,
        limit,
    )
    return [r["reason"] for r in rows]


APPEALABLE = ("warn", "timeout", "mute", "kick", "ban")


async def appealable_cases(conn: Executor, guild_id: str, target_user_id: str, *, limit: int = 25) -> list[Case]:
    """The member's cases they may still appeal (newest first): not notes, not voided, not appealed."""
    rows = await conn.fetch(
        f"""SELECT {_CASE_COLUMNS} FROM moderation_logs
            WHERE target_user_id = $1 AND metadata ? 'case_number' AND metadata ->> 'guild_id' = $2
              AND action = ANY($3::text[]) AND NOT metadata ? 'voided' AND NOT metadata ? 'appeal_status'
            ORDER BY (metadata ->> 'case_number')::integer DESC
            LIMIT $4""",
        target_user_id,
        guild_id,
        list(APPEALABLE),
        limit,
    )
    return [Case(**dict(r)) for r in rows]

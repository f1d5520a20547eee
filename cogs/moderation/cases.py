"""Changing a case after the fact: /mod case edit (reason, duration; every change a revision) and
/mod case void (the case stays on record, its points stop counting, its sanction is lifted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.rules.moderation import capped_timeout
from cogs.moderation.lifecycle import APPLY_KEY, SANCTIONS, Lifter, cancel_expiry, lift
from db import moderation, outbox, timers
from db.moderation import Case

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


class CaseError(Exception):
    """A case cannot be changed as asked; the message says why."""


async def _open_case_for_change(conn: asyncpg.Connection, guild_id: str, number: int, *, if_void: str) -> Case:
    """The case, locked for the change, unless it does not exist or was voided."""
    case = await moderation.lock_case(conn, guild_id, number)
    if case is None:
        raise CaseError(f"There is no case #{number}.")
    if "voided" in case.metadata:
        raise CaseError(f"Case #{number} {if_void}.")
    return case


async def edit_case(
    bot: ConclaveBot,
    number: int,
    editor: discord.abc.User,
    *,
    reason: str | None = None,
    duration: timedelta | str | None = "unchanged",
) -> Case:
    """Correct a case's reason and/or duration; every change is a revision. A new duration counts
    from when the case was opened and moves the sanction's expiry (and its timer) with it."""
    editor_id = await bot.identity.user_id(editor)
    guild_id = str(bot.guild_id)
    async with bot.pool.acquire() as conn, conn.transaction():
        case = await _open_case_for_change(conn, guild_id, number, if_void="was voided; it can't be edited")
        if reason is not None and reason != case.reason:
            await moderation.revise_case(
                conn,
                case.id,
                field="reason",
                old_value=case.reason,
                new_value=reason,
                editor_id=editor_id,
                reason=reason,
            )
        if duration != "unchanged":
            assert not isinstance(duration, str)
            await _change_duration(conn, bot, case, duration, editor_id)
    bot.outbox.wake()
    bot.timers.wake()
    found = await moderation.case_by_number(bot.pool, guild_id, number)
    assert found is not None
    return found


async def _change_duration(
    conn: asyncpg.Connection, bot: ConclaveBot, case: Case, duration: timedelta | None, editor_id: str
) -> None:
    if case.action not in SANCTIONS:
        raise CaseError(f"Case #{case.number} is a {case.action}: it has no duration.")
    sanction = await moderation.sanction_of_case(conn, case.id)
    if sanction is None:
        raise CaseError(f"Case #{case.number}'s {case.action} is no longer in force; open a new case instead.")
    if case.action == "timeout":
        duration, _ = capped_timeout(duration)
    expires = case.created_at + duration if duration is not None else None
    minutes = int(duration.total_seconds() // 60) if duration is not None else None
    await moderation.revise_case(
        conn,
        case.id,
        field="duration",
        old_value=None if case.duration is None else str(case.duration),
        new_value=None if minutes is None else str(minutes),
        editor_id=editor_id,
        duration_minutes=minutes,
        metadata={"expires_at": expires.isoformat() if expires else None},
    )
    await moderation.set_sanction_expiry(conn, sanction.id, expires)
    await cancel_expiry(conn, sanction.id)
    if expires is not None:
        await timers.schedule(conn, "sanction_expiry", max(expires, datetime.now(UTC)), {"sanction_id": sanction.id})
    if case.action == "timeout":
        # Applies this sanction: not sent once it was lifted (bot/writes/outbox.py), and a lift waits for it.
        base = {
            "guild_id": sanction.guild_id,
            "user_id": sanction.target_discord_id,
            "reason": f"case #{case.number}",
            "applies": sanction.id,
        }
        until = expires.isoformat() if expires else None
        key = f"{APPLY_KEY}{sanction.id}:{datetime.now(UTC).timestamp()}"
        await outbox.enqueue(conn, "timeout", {**base, "until": until}, dedupe_key=key)


async def void_case(bot: ConclaveBot, number: int, editor: discord.abc.User, reason: str) -> Case:
    """Void a case: it stays on record, marked void; its points stop counting and its sanction,
    if still in force, is lifted."""
    editor_id = await bot.identity.user_id(editor)
    guild_id = str(bot.guild_id)
    async with bot.pool.acquire() as conn, conn.transaction():
        case = await _open_case_for_change(conn, guild_id, number, if_void="was voided already")
        voided = {"by": editor_id, "reason": reason, "at": datetime.now(UTC).isoformat()}
        await moderation.revise_case(
            conn,
            case.id,
            field="void",
            old_value=None,
            new_value=reason,
            editor_id=editor_id,
            metadata={"voided": voided},
        )
        sanction = await moderation.sanction_of_case(conn, case.id)
        if sanction is not None:
            await lift(conn, bot, sanction, Lifter("voided", f"voided: {reason}", editor_id, str(editor)))
    bot.outbox.wake()
    found = await moderation.case_by_number(bot.pool, guild_id, number)
    assert found is not None
    return found

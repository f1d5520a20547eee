"""What a moderation action does, from the case to its Discord effects, and how a sanction ends:
one transaction records the case (numbered), the sanction and its expiry timer, and queues the DM,
the Discord action and the modlog entry in the outbox, in the order the member should see them."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import discord

from bot.moderation_rules import capped_timeout, format_duration, parse_duration
from bot.ui.moderation import appeal_button, case_embed, notice_embed
from cogs.xp.adjustments import after_reversals, reverse_messages_in
from db import moderation, outbox, timers
from db.moderation import Case

if TYPE_CHECKING:
    from bot.client import ConclaveBot

log = logging.getLogger(__name__)

SANCTIONS = {"ban": "ban", "timeout": "timeout", "mute": "mute"}  # action -> the sanction kind it puts in force
LIFTS = {"unban": "ban", "untimeout": "timeout", "unmute": "mute"}  # action -> the sanction kind it ends
DM_BEFORE = ("kick", "ban")  # told before: afterwards they share no server with the bot
NO_DM = ("note", "unban")  # notes are private; an unbanned user shares no server with the bot


@dataclass
class Action:
    kind: str
    target: discord.Member | discord.User
    moderator: discord.abc.User
    reason: str
    duration: timedelta | None = None  # None: permanent (a ban) or not timed
    delete_message_days: int = 0
    capped: bool = False  # a timeout cut to Discord's 28 days
    points: int | None = None  # a warning's points (None: the configured default)
    context: dict[str, Any] = field(default_factory=dict)  # channel, message, evidence


async def record(bot: ConclaveBot, action: Action) -> list[Case]:
    """Record the action and queue its effects, in one transaction; returns its case, followed by
    any escalation a warning triggered."""
    target_id = await bot.identity.user_id(action.target)
    moderator_id = await bot.identity.user_id(action.moderator)
    bot_id = await bot.identity.user_id(bot.user) if action.kind == "warn" else None  # type: ignore[arg-type]
    async with bot.pool.acquire() as conn, conn.transaction():
        cases = [await _record_in(conn, bot, action, target_id, moderator_id)]
        if action.kind == "warn":
            cases += await _escalate(conn, bot, action, target_id, bot_id, cases[0])
    bot.outbox.wake()
    bot.timers.wake()
    return cases


async def _record_in(
    conn: asyncpg.Connection, bot: ConclaveBot, action: Action, target_id: str, moderator_id: str | None
) -> Case:
    guild_id = str(bot.guild_id)
    now = datetime.now(UTC)
    expires = now + action.duration if action.duration is not None and action.kind in SANCTIONS else None
    minutes = int(action.duration.total_seconds() // 60) if action.duration is not None else None
    metadata: dict[str, Any] = {**action.context, "target_discord_id": str(action.target.id)}
    if expires is not None:
        metadata["expires_at"] = expires.isoformat()
    if action.capped:
        metadata["capped"] = True
    if action.kind == "warn":
        # The member's warnings are serialised from here to the end of the transaction: two
        # moderators warning at once see each other's points, so a threshold is crossed once.
        await moderation.lock_member(conn, guild_id, str(action.target.id))
        settings = bot.config.community.moderation
        points = action.points if action.points is not None else settings.warn_points
        metadata["points"] = points
        metadata["points_expire_at"] = (now + timedelta(days=settings.warn_points_days)).isoformat()
    case = await moderation.open_case(
        conn,
        guild_id=guild_id,
        moderator_id=moderator_id,
        target_user_id=target_id,
        action=action.kind,
        reason=action.reason,
        duration_minutes=minutes,
        metadata=metadata,
    )
    if action.kind in SANCTIONS:
        sanction, _ = await moderation.start_sanction(
            conn,
            case_id=case.id,
            guild_id=guild_id,
            target_discord_id=str(action.target.id),
            kind=SANCTIONS[action.kind],
            expires_at=expires,
        )
        if expires is not None:
            await timers.schedule(conn, "sanction_expiry", expires, {"sanction_id": sanction.id})
    elif action.kind in LIFTS:
        active = await moderation.active_sanction(conn, guild_id, str(action.target.id), LIFTS[action.kind])
        if active is not None:
            await moderation.end_sanction(conn, active.id, status="lifted", ended_by_case=case.id)
    told_first = await _queue_dm(conn, bot, action, case) if action.kind in DM_BEFORE else None
    await _queue_discord_action(conn, bot, action, case, expires, after=told_first)
    if action.kind not in DM_BEFORE and action.kind not in NO_DM:
        await _queue_dm(conn, bot, action, case)
    await queue_modlog(conn, bot, case, target=str(action.target), moderator=str(action.moderator))
    return case


async def _escalate(
    conn: asyncpg.Connection, bot: ConclaveBot, warn: Action, target_id: str, bot_id: str | None, case: Case
) -> list[Case]:
    """Apply every rung of the ladder this warning's points crossed (under the member's lock taken
    by the warning: exactly once per threshold), as cases by the bot linked to the warnings."""
    settings = bot.config.community.moderation
    if not settings.escalation:
        return []
    guild_id = str(bot.guild_id)
    after = await moderation.active_points(conn, guild_id, target_id)
    before = after - int(case.metadata["points"])
    crossed = [rung for rung in settings.escalation if before < rung.points <= after]
    if not crossed:
        return []
    rung = max(crossed, key=lambda r: r.points)  # the heaviest one crossed; lighter ones are moot
    warns = await moderation.active_warn_numbers(conn, guild_id, target_id)
    duration = parse_duration(rung.duration) if rung.duration else None
    if rung.action == "timeout":
        duration, _ = capped_timeout(duration)
    action = Action(
        rung.action,
        warn.target,
        bot.user,  # type: ignore[arg-type]
        f"{after} active warning points (threshold {rung.points}): cases {', '.join(f'#{n}' for n in warns)}",
        duration,
        context={"escalated_from": warns, "threshold": rung.points},
    )
    escalation = await _record_in(conn, bot, action, target_id, bot_id)
    log.info("warning points of %s reached %d: case #%d (%s)", warn.target.id, after, escalation.number, rung.action)
    return [escalation]


async def _queue_dm(conn: asyncpg.Connection, bot: ConclaveBot, action: Action, case: Case) -> int | None:
    guild = bot.home_guild
    where = guild.name if guild else "the server"
    embed = notice_embed(
        action.kind,
        server=where,
        case_number=case.number,
        reason=action.reason,
        duration=action.duration if action.kind in ("ban", "timeout", "mute") else None,
        appealable=action.kind in moderation.APPEALABLE,
    )
    payload = {"user_id": str(action.target.id), "content": None, "embeds": [embed.to_dict()], "case_id": case.id}
    if action.kind in moderation.APPEALABLE:
        payload["components"] = appeal_button(case.number)
    return await outbox.enqueue(conn, "dm", payload, dedupe_key=f"case-dm:{case.id}")


async def _queue_discord_action(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    action: Action,
    case: Case,
    expires: datetime | None,
    *,
    after: int | None = None,
) -> None:
    """The action on Discord; `after`: the outbox item (the DM) it waits for while that is retried."""
    base: dict[str, Any] = {
        "guild_id": str(bot.guild_id),
        "user_id": str(action.target.id),
        "reason": f"case #{case.number}",
    }
    if after is not None:
        base["after"] = after
    key = f"case-action:{case.id}"
    if action.kind == "ban":
        seconds = action.delete_message_days * 86400
        await outbox.enqueue(conn, "ban", {**base, "delete_message_seconds": seconds}, dedupe_key=key)
    elif action.kind == "kick":
        await outbox.enqueue(conn, "kick", base, dedupe_key=key)
    elif action.kind == "unban":
        await outbox.enqueue(conn, "unban", base, dedupe_key=key)
    elif action.kind == "timeout":
        await outbox.enqueue(
            conn, "timeout", {**base, "until": expires.isoformat() if expires else None}, dedupe_key=key
        )
    elif action.kind == "untimeout":
        await outbox.enqueue(conn, "timeout", {**base, "until": None}, dedupe_key=key)
    elif action.kind in ("mute", "unmute"):
        await queue_mute_role(
            conn, bot, str(action.target.id), give=action.kind == "mute", reason=base["reason"], key=key
        )


async def queue_mute_role(
    conn: asyncpg.Connection, bot: ConclaveBot, discord_id: str, *, give: bool, reason: str, key: str
) -> None:
    role_id = bot.config.community.moderation.mute_role_id
    if role_id is None:
        return  # checked before the action; a mute whose role was unset since ends on the record only
    payload = {"guild_id": str(bot.guild_id), "user_id": discord_id, "role_id": str(role_id), "reason": reason}
    await outbox.enqueue(conn, "add_role" if give else "remove_role", payload, dedupe_key=key)


async def reapply_mute(bot: ConclaveBot, member: discord.Member) -> bool:
    """A member who left while muted comes back muted (roles do not survive leaving on Discord)."""
    async with bot.pool.acquire() as conn, conn.transaction():
        active = await moderation.active_sanction(conn, str(bot.guild_id), str(member.id), "mute")
        if active is None:
            return False
        key = f"mute-rejoin:{active.id}:{member.joined_at.timestamp() if member.joined_at else 0}"
        await queue_mute_role(
            conn, bot, str(member.id), give=True, reason=f"still muted (sanction {active.id})", key=key
        )
    bot.outbox.wake()
    log.info("muted member %s rejoined: mute role given back", member.id)
    return True


async def queue_modlog(conn: asyncpg.Connection, bot: ConclaveBot, case: Case, *, target: str, moderator: str) -> None:
    channel_id = bot.config.community.announcements.mod_log_channel_id
    if channel_id is None:
        return
    duration = format_duration(timedelta(minutes=case.duration)) if case.duration else None
    embed = case_embed(case, target=target, moderator=moderator, duration=duration)
    await outbox.enqueue(
        conn,
        "channel_message",
        {"channel_id": str(channel_id), "content": None, "embeds": [embed.to_dict()]},
        dedupe_key=f"case-modlog:{case.id}",
    )


def expiry_handler(bot: ConclaveBot):  # noqa: ANN201  (a timers.Handler)
    """The timer handler that ends a temporary sanction: once, and never one that a newer sanction
    superseded or a moderator already lifted (its row is no longer active then)."""

    async def expire(conn: asyncpg.Connection, timer: timers.Timer) -> None:
        sanction = await moderation.lock_active_sanction(conn, int(timer.payload["sanction_id"]))
        if sanction is None:
            return  # lifted, superseded or voided meanwhile: nothing to do
        if sanction.kind == "timeout":
            # Discord ends a timeout by itself at the time it was given: only the record changes.
            await moderation.end_sanction(conn, sanction.id, status="expired")
            return
        me = await bot.identity.user_id(bot.user)  # type: ignore[arg-type]
        case = await lift_sanction(
            conn,
            bot,
            sanction,
            moderator_id=me,
            moderator=str(bot.user),
            status="expired",
            why=f"temporary {sanction.kind} expired",
        )
        log.info("temporary %s of %s expired: case #%d", sanction.kind, sanction.target_discord_id, case.number)

    return expire


async def lift_sanction(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    sanction: moderation.Sanction,
    *,
    moderator_id: str | None,
    moderator: str,
    status: str,
    why: str,
) -> Case:
    """End a sanction in force with the case that lifts it (unban, untimeout, unmute), its Discord
    effect through the outbox and its modlog entry; in the caller's transaction."""
    lift = {"ban": "unban", "timeout": "untimeout", "mute": "unmute"}[sanction.kind]
    original = await moderation.case_by_id(conn, sanction.case_id)
    number = original.number if original else "?"
    case = await moderation.open_case(
        conn,
        guild_id=sanction.guild_id,
        moderator_id=moderator_id,
        target_user_id=original.target_user_id if original else None,
        action=lift,
        reason=f"{why} (case #{number})",
        metadata={"target_discord_id": sanction.target_discord_id, "lifted_case": sanction.case_id},
    )
    await moderation.end_sanction(conn, sanction.id, status=status, ended_by_case=case.id)
    if status != "expired":  # lifted early: its expiry timer has nothing left to do
        await timers.cancel(conn, "sanction_expiry", "sanction_id", sanction.id)
    base = {"guild_id": sanction.guild_id, "user_id": sanction.target_discord_id, "reason": f"case #{case.number}"}
    key = f"case-action:{case.id}"
    if lift == "unban":
        await outbox.enqueue(conn, "unban", base, dedupe_key=key)
    elif lift == "untimeout":
        await outbox.enqueue(conn, "timeout", {**base, "until": None}, dedupe_key=key)
    else:
        await queue_mute_role(conn, bot, sanction.target_discord_id, give=False, reason=base["reason"], key=key)
    await queue_modlog(conn, bot, case, target=sanction.target_discord_id, moderator=moderator)
    return case


@dataclass(frozen=True)
class Purged:
    case: Case
    messages: int
    xp_taken: int  # XP taken back (0 when not asked)
    messages_reversed: int


async def purge(
    bot: ConclaveBot, action: Action, channel_id: int, message_ids: list[int], *, reverse_xp: bool
) -> Purged:
    """A purge: one case listing the messages, their deletion queued in the outbox and, if asked,
    the XP they earned taken back through the ledger, all in one transaction (the XP engine's
    pending grants are written first, so a message seconds old is in the ledger to reverse)."""
    engine = getattr(bot, "xp_engine", None) if reverse_xp else None
    if engine is not None:
        await engine.flush()
    target_id = await bot.identity.user_id(action.target)
    moderator_id = await bot.identity.user_id(action.moderator)
    ids = [str(i) for i in message_ids]
    lock = engine.lock if engine is not None else contextlib.nullcontext()
    async with lock, bot.pool.acquire() as conn, conn.transaction():
        metadata = {
            **action.context,
            "target_discord_id": str(action.target.id),
            "channel_id": str(channel_id),
            "message_ids": ids,
            "messages": len(ids),
            "reverse_xp": reverse_xp,
        }
        case = await moderation.open_case(
            conn,
            guild_id=str(bot.guild_id),
            moderator_id=moderator_id,
            target_user_id=target_id,
            action="purge",
            reason=action.reason,
            metadata=metadata,
        )
        payload = {
            "guild_id": str(bot.guild_id),
            "channel_id": str(channel_id),
            "message_ids": ids,
            "reason": f"case #{case.number}",
        }
        await outbox.enqueue(conn, "delete_messages", payload, dedupe_key=f"case-action:{case.id}")
        reversals = []
        if engine is not None:
            reversals = await reverse_messages_in(conn, bot, moderator_id, ids, f"purge, case #{case.number}")
            taken = -sum(r.amount for r in reversals)
            await moderation.merge_metadata(conn, case.id, {"xp_reversed": taken, "messages_reversed": len(reversals)})
            case = await moderation.case_by_id(conn, case.id) or case
        await queue_modlog(conn, bot, case, target=str(action.target), moderator=str(action.moderator))
    if engine is not None:
        await after_reversals(bot, engine, reversals)
    bot.outbox.wake()
    return Purged(case, len(ids), -sum(r.amount for r in reversals), len(reversals))


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
    await timers.cancel(conn, "sanction_expiry", "sanction_id", sanction.id)
    if expires is not None:
        await timers.schedule(conn, "sanction_expiry", max(expires, datetime.now(UTC)), {"sanction_id": sanction.id})
    if case.action == "timeout":
        base = {"guild_id": sanction.guild_id, "user_id": sanction.target_discord_id, "reason": f"case #{case.number}"}
        until = expires.isoformat() if expires else None
        await outbox.enqueue(conn, "timeout", {**base, "until": until})


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
            await moderation.end_sanction(conn, sanction.id, status="voided")
            await timers.cancel(conn, "sanction_expiry", "sanction_id", sanction.id)
            lift = f"case #{number} voided"
            base = {"guild_id": sanction.guild_id, "user_id": sanction.target_discord_id, "reason": lift}
            if sanction.kind == "ban":
                await outbox.enqueue(conn, "unban", base)
            elif sanction.kind == "timeout":
                await outbox.enqueue(conn, "timeout", {**base, "until": None})
            else:
                await queue_mute_role(
                    conn, bot, sanction.target_discord_id, give=False, reason=lift, key=f"void:{case.id}"
                )
    bot.outbox.wake()
    found = await moderation.case_by_number(bot.pool, guild_id, number)
    assert found is not None
    return found


async def record_case_dm(conn: asyncpg.Connection, item: outbox.OutboxItem, delivered: bool, error: str | None) -> None:
    """An outbox outcome hook: whether the DM telling a member about a case arrived, on the case."""
    case_id = item.payload.get("case_id")
    if item.kind == "dm" and case_id is not None:
        await moderation.record_dm(conn, int(case_id), sent=delivered, error=error)

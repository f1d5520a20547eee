"""What a moderation action does, from the case to its Discord effects, and how a sanction ends:
one transaction records the case (numbered), the sanction and its expiry timer, and queues the DM,
the Discord action and the modlog entry in the outbox, in the order the member should see them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import discord

from bot.core.checks import administrative
from bot.rules.moderation import capped_timeout, format_duration, parse_duration
from bot.ui.moderation import appeal_button, case_embed, notice_embed
from db import moderation, outbox, timers
from db.moderation import Case

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

SANCTIONS = {"ban": "ban", "timeout": "timeout", "mute": "mute"}  # action -> the sanction kind it puts in force
LIFTS = {"unban": "ban", "untimeout": "timeout", "unmute": "mute"}  # action -> the sanction kind it ends
DM_BEFORE = ("kick", "ban")  # told before: afterwards they share no server with the bot
NO_DM = ("note", "unban")  # notes are private; an unbanned user shares no server with the bot
# The dedupe key of an effect that applies a sanction in force again after its case's own action
# (a changed timeout: "sanction-apply:<sanction id>:<when>"); a lift of the sanction waits for it.
APPLY_KEY = "sanction-apply:"


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
    # told: the member is sent a DM about this case (whether it arrived: dm_sent, once it settled)
    told = action.kind not in NO_DM
    metadata: dict[str, Any] = {**action.context, "target_discord_id": str(action.target.id), "told": told}
    if expires is not None:
        metadata["expires_at"] = expires.isoformat()
    if action.capped:
        metadata["capped"] = True
    if action.kind == "mute" and bot.config.community.moderation.mute_role_id is not None:
        # The role this mute gives: the one taken back when it ends, whatever the setting is by then.
        metadata["mute_role_id"] = str(bot.config.community.moderation.mute_role_id)
    # Every action on the member is serialised from here to the end of the transaction: two
    # moderators warning at once see each other's points, so a threshold is crossed once, and no
    # sanction of theirs comes into force while a warning's escalation holds the case counter.
    await moderation.lock_member(conn, guild_id, str(action.target.id))
    if action.kind == "warn":
        settings = bot.config.community.moderation
        if settings.escalation:  # its escalation's sanction rows before the case number (bot/core/locks.py)
            await moderation.lock_sanctions(conn, guild_id, str(action.target.id))
        points = action.points if action.points is not None else settings.warn_points
        metadata["points"] = points
        metadata["points_expire_at"] = (now + timedelta(days=settings.warn_points_days)).isoformat()
    kind = SANCTIONS.get(action.kind) or LIFTS.get(action.kind)
    # The member's sanction of this kind in force, locked before the case number is taken, as a void
    # or an appeal does (the lock order of bot/core/locks.py): a lift and a void of one sanction queue.
    active = await moderation.active_sanction(conn, guild_id, str(action.target.id), kind, lock=True) if kind else None
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
    in_force = None
    if action.kind in SANCTIONS:
        in_force = await put_in_force(conn, case, SANCTIONS[action.kind], str(action.target.id), expires)
    elif action.kind in LIFTS:
        kind, discord_id = LIFTS[action.kind], str(action.target.id)
        if active is not None:
            by = Lifter("lifted", action.reason, moderator_id, str(action.moderator))
            await lift(conn, bot, active, by, case=case)
        else:  # nothing on record (e.g. a ban older than the bot): Discord is asked all the same
            await _queue_lift_effect(conn, bot, kind, discord_id, case, sanction=None)
    told_first = await _queue_dm(conn, bot, action, case) if action.kind in DM_BEFORE else None
    applies = in_force.id if in_force is not None else None
    await _queue_discord_action(conn, bot, action, case, expires, after=told_first, applies=applies)
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
    applies: int | None = None,
) -> None:
    """The action on Discord; `after`: the outbox item (the DM) it waits for while that is retried;
    `applies`: the sanction it puts in force (a timeout's end, a mute's role: not sent once a newer
    timeout or a lift ended that sanction: a slow old one never overwrites or outlives what followed)."""
    base: dict[str, Any] = {
        "guild_id": str(bot.guild_id),
        "user_id": str(action.target.id),
        "reason": f"case #{case.number}",
        "case_id": case.id,  # a refusal ends what the case put in force (cogs/moderation/refusals.py)
    }
    if after is not None:
        base["after"] = after
    key = f"case-action:{case.id}"
    if action.kind == "ban":
        seconds = action.delete_message_days * 86400
        await outbox.enqueue(conn, "ban", {**base, "delete_message_seconds": seconds}, dedupe_key=key)
    elif action.kind == "kick":
        await outbox.enqueue(conn, "kick", base, dedupe_key=key)
    elif action.kind == "timeout":
        until = expires.isoformat() if expires else None
        extra = {"applies": applies} if applies is not None else {}
        await outbox.enqueue(conn, "timeout", {**base, **extra, "until": until}, dedupe_key=key)
    elif action.kind == "mute":
        extra = {"case_id": case.id, **({"applies": applies} if applies is not None else {})}
        await queue_mute_role(conn, bot, str(action.target.id), give=True, reason=base["reason"], key=key, extra=extra)
    # (unban, untimeout, unmute: queued by lift, or by _record_in when nothing was on record)


async def put_in_force(
    conn: asyncpg.Connection, case: Case, kind: str, discord_id: str, expires: datetime | None
) -> moderation.Sanction:
    """The sanction a case puts in force, with its expiry timer; the member's previous sanction of
    that kind is superseded and its timer cancelled (an old expiry never lifts a newer sanction)."""
    sanction, superseded = await moderation.start_sanction(
        conn,
        case_id=case.id,
        guild_id=str(case.metadata["guild_id"]),
        target_discord_id=discord_id,
        kind=kind,
        expires_at=expires,
    )
    for old in superseded:
        await cancel_expiry(conn, old.id)
    if expires is not None:
        await timers.schedule(conn, "sanction_expiry", expires, {"sanction_id": sanction.id})
    return sanction


async def cancel_expiry(conn: asyncpg.Connection, sanction_id: int) -> None:
    """A sanction's expiry timer cancelled, in the transaction that holds the sanction's row. A timer
    the dispatcher runs at this very moment is left to it (it waits for the sanction's row, which
    this transaction holds: waiting for the timer's would deadlock); the expiry handler then finds
    the sanction ended, or its expiry moved, and does nothing."""
    await timers.cancel(conn, "sanction_expiry", "sanction_id", sanction_id, skip_running=True)


def mute_role_powers(bot: ConclaveBot, role_id: int | None = None) -> list[str]:
    """The administrative permissions the mute role (or `role_id`) carries now (none, as it should
    be): a role edited in Discord since it was chosen is never handed out."""
    role_id = bot.config.community.moderation.mute_role_id if role_id is None else role_id
    guild = bot.home_guild
    role = guild.get_role(role_id) if guild is not None and role_id is not None else None
    return administrative(role.permissions) if role is not None else []


async def queue_mute_role(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    discord_id: str,
    *,
    give: bool,
    reason: str,
    key: str,
    extra: dict[str, Any] | None = None,
    role_id: int | None = None,
) -> None:
    """Give or take back the mute role: `role_id`, the one a mute on record gave, else the one set now."""
    role_id = bot.config.community.moderation.mute_role_id if role_id is None else role_id
    if role_id is None:
        return  # checked before the action; a mute whose role was unset since ends on the record only
    if give and (powers := mute_role_powers(bot, role_id)):
        log.warning("mute role %s not given to %s: it has administrative permissions (%s)", role_id, discord_id, powers)
        return
    if give and role_id in bot.config.community.staff_role_ids:
        log.warning("mute role %s not given to %s: it is a staff role", role_id, discord_id)
        return
    payload = {
        **(extra or {}),
        "guild_id": str(bot.guild_id),
        "user_id": discord_id,
        "role_id": str(role_id),
        "reason": reason,
    }
    await outbox.enqueue(conn, "add_role" if give else "remove_role", payload, dedupe_key=key)


async def reapply_mute(bot: ConclaveBot, member: discord.Member) -> bool:
    """A member who left while muted comes back muted (roles do not survive leaving on Discord)."""
    async with bot.pool.acquire() as conn, conn.transaction():
        active = await moderation.active_sanction(conn, str(bot.guild_id), str(member.id), "mute")
        if active is None:
            return False
        key = f"mute-rejoin:{active.id}:{member.joined_at.timestamp() if member.joined_at else 0}"
        await queue_mute_role(
            conn,
            bot,
            str(member.id),
            give=True,
            reason=f"still muted (sanction {active.id})",
            key=key,
            extra={"applies": active.id},  # not given once this mute ended (an unmute queued meanwhile)
            role_id=await _mute_role_given(conn, active),
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
        if sanction.expires_at is None or sanction.expires_at > timer.due_at:
            return  # made permanent or longer meanwhile (/mod case edit): its new timer ends it
        me = await bot.identity.user_id(bot.user)  # type: ignore[arg-type]
        why = f"temporary {sanction.kind} expired"
        case = await lift(conn, bot, sanction, Lifter("expired", why, me, str(bot.user)))
        if case is not None:
            log.info("temporary %s of %s expired: case #%d", sanction.kind, sanction.target_discord_id, case.number)

    return expire


LIFT_ACTION = {"ban": "unban", "timeout": "untimeout", "mute": "unmute"}  # the case that ends each kind


@dataclass(frozen=True)
class Lifter:
    """Who or what ends a sanction, and how it goes on record."""

    status: str  # how the sanction row ends: expired, lifted or voided
    why: str  # the lift case's reason (followed by "(case #N)" of the case it lifts)
    moderator_id: str | None  # None: unknown (a moderator in Discord, the audit log unreadable)
    moderator: str  # as the modlog entry names them
    effect: bool = True  # False: Discord did it already (an unban in Discord's own menus)
    modlog: bool = True  # False: the caller sums it up (reconciliation at start-up)


async def lift(
    conn: asyncpg.Connection, bot: ConclaveBot, sanction: moderation.Sanction, by: Lifter, *, case: Case | None = None
) -> Case | None:
    """The one way a sanction in force ends, whoever ends it: its expiry, /mod unban|untimeout|unmute,
    a void, an accepted appeal, an unban in Discord. In the caller's transaction, with the sanction
    row locked by the caller (so it is still in force). One rule for all of them:
    - the row ends once (its status, and the case that ended it);
    - a case records the end: `case`, when the caller opened one (/mod unban...), else a lift case
      opened here ("<why> (case #N)", with its modlog entry). Only a timeout that ran out has none:
      Discord ended it by itself, so only the row changes;
    - its expiry timer is cancelled;
    - its Discord effect is queued once per sanction (dedupe key sanction-lift:<id>), after every
      effect applying the sanction still in the outbox (its own action, a changed timeout, a
      rejoin's role), however long it takes there (a quick unban never runs ahead of the ban it
      lifts, which may wait up to a minute on its DM; an unmute never ahead of an older grant).
    Returns the case, None when nothing was recorded."""
    if sanction.kind == "timeout" and by.status == "expired":
        await moderation.end_sanction(conn, sanction.id, status="expired")
        return None
    opened = case is None
    if case is None:
        original = await moderation.case_by_id(conn, sanction.case_id)
        case = await moderation.open_case(
            conn,
            guild_id=sanction.guild_id,
            moderator_id=by.moderator_id,
            target_user_id=original.target_user_id if original else None,
            action=LIFT_ACTION[sanction.kind],
            reason=f"{by.why} (case #{original.number if original else '?'})",
            metadata={
                "target_discord_id": sanction.target_discord_id,
                "lifted_case": sanction.case_id,
                **({"in_discord": True} if not by.effect else {}),
            },
        )
    await moderation.end_sanction(conn, sanction.id, status=by.status, ended_by_case=case.id)
    await cancel_expiry(conn, sanction.id)
    if by.effect:
        await _queue_lift_effect(conn, bot, sanction.kind, sanction.target_discord_id, case, sanction=sanction)
    if opened and by.modlog:
        user = bot.get_user(int(sanction.target_discord_id)) if sanction.target_discord_id.isdigit() else None
        target = str(user) if user is not None else sanction.target_discord_id
        await queue_modlog(conn, bot, case, target=target, moderator=by.moderator)
    return case


async def _queue_lift_effect(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    kind: str,
    discord_id: str,
    case: Case,
    *,
    sanction: moderation.Sanction | None,
) -> None:
    """What Discord is asked to undo a sanction of `kind`. With the sanction: once per sanction,
    after its own action still in the outbox; without (none on record): once per case."""
    base: dict[str, Any] = {
        "guild_id": str(bot.guild_id),
        "user_id": discord_id,
        "reason": f"case #{case.number}",
        "lifts": kind,  # not sent if a newer sanction of this kind is in force by then (bot/writes/outbox.py)
    }
    if sanction is not None:
        dedupe = f"sanction-lift:{sanction.id}"
        again = [f"mute-rejoin:{sanction.id}:", f"{APPLY_KEY}{sanction.id}:"]  # what applies it again
        # after every one still pending (not only the newest: an older one retried would land after it)
        previous = await outbox.pending_ids(conn, f"case-action:{sanction.case_id}", prefixes=again)
        if previous:
            base |= {"after": previous, "after_settled": True}
    else:
        dedupe = f"case-action:{case.id}"
    if kind == "ban":
        await outbox.enqueue(conn, "unban", base, dedupe_key=dedupe)
    elif kind == "timeout":
        await outbox.enqueue(conn, "timeout", {**base, "until": None}, dedupe_key=dedupe)
    else:
        given = await _mute_role_given(conn, sanction) if sanction is not None else None
        await queue_mute_role(
            conn, bot, discord_id, give=False, reason=base["reason"], key=dedupe, extra=base, role_id=given
        )


async def _mute_role_given(conn: asyncpg.Connection, sanction: moderation.Sanction) -> int | None:
    """The role a mute on record gave (kept on its case), None for a mute recorded before it was kept."""
    case = await moderation.case_by_id(conn, sanction.case_id)
    given = case.metadata.get("mute_role_id") if case is not None else None
    return int(given) if given is not None else None


async def record_case_dm(conn: asyncpg.Connection, item: outbox.OutboxItem, delivered: bool, error: str | None) -> None:
    """An outbox outcome hook: whether the DM telling a member about a case arrived, on the case."""
    case_id = item.payload.get("case_id")
    if item.kind == "dm" and case_id is not None:
        await moderation.record_dm(conn, int(case_id), sent=delivered, error=error)

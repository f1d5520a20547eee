"""Timeouts given, changed and removed in Discord's own menus (GUILD_MEMBER_UPDATE with a new
`communication_disabled_until`): each is on record as the bot's own are, a timeout case "by a
moderator in Discord" and a sanction in force with its end, so every rule reading the sanctions (the
website's register_for_event among them) sees it; and at start-up, after the member sync, the
timeouts members carry compared with those on record, for what changed while the bot was offline."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import discord
from discord.ext import commands

from cogs.moderation.in_discord import (
    IN_DISCORD,
    RECONCILE_AUDIT_PAGE,
    MenusWatcher,
    _case_list,
    _moderator,
    _why,
    audit_entry,
    queue_modlog_line,
)
from cogs.moderation.lifecycle import Lifter, cancel_expiry, lift, put_in_force, queue_modlog
from db import moderation, outbox, timers
from db.moderation import Case

log = logging.getLogger(__name__)

# Discord keeps a timeout's end to the millisecond, the record to the microsecond: ends this close
# are one end (the bot's own timeout reported back, or the same event twice).
SAME_END = timedelta(seconds=1)
Actors = dict[int, tuple[discord.abc.User | None, str | None]]


def timed_out_until(member: discord.Member) -> datetime | None:
    """The end of the member's timeout in force, None when none is (never given, removed or run out)."""
    until = member.timed_out_until
    return until if until is not None and until > discord.utils.utcnow() else None


def same_end(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < SAME_END


def running(sanction: moderation.Sanction | None) -> moderation.Sanction | None:
    """The timeout on record if it has not run out: one past its end (its expiry timer not run yet,
    e.g. the bot was offline) is over, and a timeout given after it is a new one, not a change."""
    if sanction is None or sanction.expires_at is None or sanction.expires_at > datetime.now(UTC):
        return sanction
    return None


def changed_timeout(entry: discord.AuditLogEntry) -> bool:
    """Whether a member-update audit entry changed the timeout (not a nickname or a voice mute)."""
    return hasattr(entry.after, "timed_out_until") or hasattr(entry.before, "timed_out_until")


def _minutes(since: datetime, until: datetime) -> int:
    return max(1, round((until - since).total_seconds() / 60))


async def record_timeout(
    conn: asyncpg.Connection,
    *,
    guild_id: str,
    discord_id: str,
    target_id: str | None,
    until: datetime,
    moderator_id: str | None,
    reason: str,
) -> Case:
    """A timeout given in Discord, on record: its case and the sanction in force until `until`
    (with its expiry timer); no DM and no Discord action, Discord has timed the member out."""
    case = await moderation.open_case(
        conn,
        guild_id=guild_id,
        moderator_id=moderator_id,
        target_user_id=target_id,
        action="timeout",
        reason=reason,
        duration_minutes=_minutes(datetime.now(UTC), until),
        metadata={"target_discord_id": discord_id, "in_discord": True, "told": False, "expires_at": until.isoformat()},
    )
    await put_in_force(conn, case, "timeout", discord_id, until)
    return case


async def change_end(
    conn: asyncpg.Connection, sanction: moderation.Sanction, until: datetime, editor_id: str | None
) -> Case | None:
    """A timeout in force made longer or shorter in Discord: its case revised (the duration, as
    /mod case edit does) and the sanction's end and expiry timer moved; Discord holds the end already."""
    case = await moderation.case_by_id(conn, sanction.case_id)
    if case is None:
        return None
    minutes = _minutes(case.created_at, until)
    await moderation.revise_case(
        conn,
        case.id,
        field="duration",
        old_value=None if case.duration is None else str(case.duration),
        new_value=str(minutes),
        editor_id=editor_id,
        duration_minutes=minutes,
        metadata={"expires_at": until.isoformat(), "changed_in_discord": True},
    )
    await moderation.set_sanction_expiry(conn, sanction.id, until)
    await cancel_expiry(conn, sanction.id)
    await timers.schedule(conn, "sanction_expiry", until, {"sanction_id": sanction.id})
    return case


class TimeoutsInDiscord(MenusWatcher):
    """Timeouts given, changed and removed in Discord; at start-up, those changed while the bot was
    offline. A timeout on record that merely ran out is no lift: its expiry ends it."""

    what = "timeouts"

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if after.guild.id != self.bot.guild_id:
            return
        until = timed_out_until(after)
        if same_end(timed_out_until(before), until):
            return  # not a change of the timeout (a role, a nickname; or the same event again)
        async with self.locks.hold(after.id):
            case = await (self.timeout_seen(after, until) if until is not None else self.removal_seen(after))
        if case is not None:
            self.bot.outbox.wake()
            self.bot.timers.wake()
            log.info("timeout of %s (%s) changed in Discord: case #%d", after, after.id, case.number)

    async def _actor(self, member: discord.Member) -> tuple[tuple[str | None, str], str | None] | None:
        """Who changed the member's timeout and why (None: the bot itself, as the audit log says)."""
        bot = self.bot
        actor, reason = await audit_entry(bot, discord.AuditLogAction.member_update, member.id, changed_timeout)
        if actor is not None and bot.user is not None and actor.id == bot.user.id:
            return None
        return await _moderator(bot, actor), reason

    async def timeout_seen(self, member: discord.Member, until: datetime) -> Case | None:
        """A timeout given, or its end changed, in Discord: not the bot's own (its echo, or an end on
        record already), it becomes a timeout case, or moves the end of the one in force."""
        bot, guild_id, discord_id = self.bot, str(self.bot.guild_id), str(member.id)
        if bot.outbox.echoes.take("timeout", discord_id):
            return None
        async with bot.pool.acquire() as conn:
            active = running(await moderation.active_sanction(conn, guild_id, discord_id, "timeout"))
            busy = active is not None and discord_id in await outbox.pending_for_members(conn, ("timeout",))
        if active is not None and (busy or same_end(active.expires_at, until)):
            return None  # on record already, or the bot's own change of it is about to replace this end
        found = await self._actor(member)
        if found is None:
            return None
        (moderator_id, moderator), reason = found
        target_id = await bot.identity.user_id(member)
        async with bot.pool.acquire() as conn, conn.transaction():
            await moderation.lock_member(conn, guild_id, discord_id)  # as the start-up reconcile takes it
            active = running(await moderation.active_sanction(conn, guild_id, discord_id, "timeout", lock=True))
            if active is not None:
                return (
                    None if same_end(active.expires_at, until) else await change_end(conn, active, until, moderator_id)
                )
            case = await record_timeout(
                conn,
                guild_id=guild_id,
                discord_id=discord_id,
                target_id=target_id,
                until=until,
                moderator_id=moderator_id,
                reason=_why("timed out in Discord", reason),
            )
            await queue_modlog(conn, bot, case, target=str(member), moderator=moderator)
            return case

    async def removal_seen(self, member: discord.Member) -> Case | None:
        """A timeout removed early in Discord (not by the bot): the timeout in force ends, with an
        untimeout case."""
        bot, guild_id, discord_id = self.bot, str(self.bot.guild_id), str(member.id)
        if bot.outbox.echoes.take("timeout", discord_id):
            return None
        async with bot.pool.acquire() as conn:
            if await moderation.active_sanction(conn, guild_id, discord_id, "timeout") is None:
                return None  # none on record (the bot's own lift ended it before asking Discord)
        found = await self._actor(member)
        if found is None:
            return None
        (moderator_id, moderator), reason = found
        by = Lifter("lifted", _why("timeout removed in Discord", reason), moderator_id, moderator, effect=False)
        async with bot.pool.acquire() as conn, conn.transaction():
            await moderation.lock_member(conn, guild_id, discord_id)  # as the start-up reconcile takes it
            active = await moderation.active_sanction(conn, guild_id, discord_id, "timeout", lock=True)
            return await lift(conn, bot, active, by) if active is not None else None

    # -- start-up ------------------------------------------------------------------------------

    async def _reconcile(self) -> None:
        """What changed while the bot was offline, one member at a time, each in its own transaction
        under the member's lock (as the live handlers take it): a timeout changed live meanwhile is
        recorded once, by whichever comes first, and one member's failure blocks no other's."""
        bot, guild = self.bot, self.bot.home_guild
        if guild is None:
            return
        guild_id, now = str(bot.guild_id), datetime.now(UTC)
        carried = {str(m.id): (m, until) for m in guild.members if (until := timed_out_until(m)) is not None}
        async with bot.pool.acquire() as conn:
            on_record = await moderation.active_sanctions(conn, guild_id, "timeout")
            active = {s.target_discord_id: s for s in on_record if running(s) is not None}  # ran out: its expiry's
            busy = await outbox.pending_for_members(conn, ("timeout",))  # about to change in Discord
        given = [(m, until) for uid, (m, until) in carried.items() if uid not in active and uid not in busy]
        changed = [
            (s, carried[uid][1])
            for uid, s in active.items()
            if uid in carried and uid not in busy and not same_end(s.expires_at, carried[uid][1])
        ]
        removed = [
            s
            for uid, s in active.items()
            if uid not in carried
            and uid not in busy
            and guild.get_member(int(uid)) is not None  # one who left keeps it: Discord does not say
            and s.expires_at is not None
            and s.expires_at > now + SAME_END  # ran out: not lifted
        ]
        if not given and not changed and not removed:
            return
        actors = await self._recent_actors(guild)
        targets = {m.id: await bot.identity.user_id(m) for m, _ in given}
        # Who did each, resolved before any member's lock is taken (no connection held meanwhile).
        ids = (
            {m.id for m, _ in given}
            | {int(s.target_discord_id) for s, _ in changed}
            | {int(s.target_discord_id) for s in removed}
        )
        by: dict[int, tuple[tuple[str | None, str], str | None]] = {}
        for member_id in ids:
            actor, reason = actors.get(member_id, (None, None))
            by[member_id] = (await _moderator(bot, actor), reason)
        given_cases: list[Case] = []
        lifted: list[Case] = []
        moved = 0

        def now_until(discord_id: str) -> datetime | None:
            """The member's timeout as the gateway has it now: a live change since the snapshot is
            the live handler's (it takes the member's lock after this step, or took it before)."""
            member = guild.get_member(int(discord_id))
            return None if member is None else timed_out_until(member)

        async def each(discord_id: str, step: Callable[..., Awaitable[Case | None]], *args: object) -> Case | None:
            """One member's step, in its own transaction under their lock; its case once committed.
            A failure is that member's alone (one warning): the others are reconciled all the same."""
            try:
                async with bot.pool.acquire() as conn, conn.transaction():
                    await moderation.lock_member(conn, guild_id, discord_id)
                    return await step(conn, *args)
            except Exception as error:
                expected = isinstance(error, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError))
                log.warning(
                    "timeout of %s not reconciled (%s): the next start-up tries again",
                    discord_id,
                    error,
                    exc_info=None if expected else error,
                )
                return None

        async def give(conn: asyncpg.Connection, member: discord.Member, until: datetime) -> Case | None:
            discord_id = str(member.id)
            if running(await moderation.active_sanction(conn, guild_id, discord_id, "timeout", lock=True)):
                return None  # recorded meanwhile by the live handler, with what it saw
            if now_until(discord_id) is None:
                return None  # removed meanwhile: not in force, as Discord has it
            (moderator_id, _), reason = by[member.id]
            # The end the offline change gave (its moderator's); a live change since moves it once
            # the live handler has the lock.
            return await record_timeout(
                conn,
                guild_id=guild_id,
                discord_id=discord_id,
                target_id=targets[member.id],
                until=until,
                moderator_id=moderator_id,
                reason=_why("timed out in Discord while the bot was offline", reason),
            )

        async def move(conn: asyncpg.Connection, sanction: moderation.Sanction, until: datetime) -> Case | None:
            locked = await moderation.lock_active_sanction(conn, sanction.id)
            if locked is None or same_end(locked.expires_at, until):
                return None  # ended or moved meanwhile
            current = now_until(sanction.target_discord_id)
            if current is not None and same_end(locked.expires_at, current):
                return None  # the live handler moved it to what Discord holds now
            (moderator_id, _), _reason = by[int(sanction.target_discord_id)]
            return await change_end(conn, locked, until, moderator_id)

        async def remove(conn: asyncpg.Connection, sanction: moderation.Sanction) -> Case | None:
            locked = await moderation.lock_active_sanction(conn, sanction.id)
            if locked is None:
                return None  # ended meanwhile (its expiry ran, or the live handler lifted it)
            current = now_until(sanction.target_discord_id)
            if current is not None and same_end(locked.expires_at, current):
                return None  # timed out again live, and the live handler recorded it on this one
            if await outbox.status_of(conn, f"case-action:{locked.case_id}") in ("failed", "refused"):
                return None  # never applied in Discord: its failure is on record
            (moderator_id, moderator), reason = by[int(locked.target_discord_id)]
            why = _why("timeout removed in Discord while the bot was offline", reason)
            return await lift(conn, bot, locked, Lifter("lifted", why, moderator_id, moderator, False, False))

        for member, until in given:
            if (case := await each(str(member.id), give, member, until)) is not None:
                given_cases.append(case)
        for sanction, until in changed:
            if await each(sanction.target_discord_id, move, sanction, until) is not None:
                moved += 1
        for sanction in removed:
            if (case := await each(sanction.target_discord_id, remove, sanction)) is not None:
                lifted.append(case)
        recorded = given_cases + lifted
        if recorded or moved:
            content = (
                f"Timeouts changed in Discord while I was offline: {len(given_cases)} given, "
                f"{len(lifted)} removed, {moved} with a new end"
                + (f", recorded as {_case_list(recorded)}." if recorded else ".")
            )
            try:
                async with bot.pool.acquire() as conn, conn.transaction():
                    await queue_modlog_line(conn, bot, content, f"timeouts-reconciled:{now.timestamp()}")
            except (asyncpg.PostgresError, OSError, TimeoutError) as error:
                log.warning("the summary of timeouts reconciled is not posted (%s): %s", error, content)
        bot.outbox.wake()
        bot.timers.wake()
        log.info("timeouts changed in Discord while offline: %d case(s), %d end(s) moved", len(recorded), moved)

    async def _recent_actors(self, guild: discord.Guild) -> Actors:
        """Who made the newest timeout change of each member, where the bot may read the audit log."""
        found: Actors = {}
        if guild.me is None or not guild.me.guild_permissions.view_audit_log:
            return found
        try:
            async for entry in guild.audit_logs(
                limit=RECONCILE_AUDIT_PAGE, action=discord.AuditLogAction.member_update
            ):
                if entry.target is not None and changed_timeout(entry):
                    found.setdefault(entry.target.id, (entry.user, entry.reason))
        except discord.HTTPException as error:
            log.info("audit log not readable (%s) at start-up: timeouts recorded as by %s", error.status, IN_DISCORD)
            return {}
        return found

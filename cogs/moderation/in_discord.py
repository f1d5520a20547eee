"""Bans and unbans made outside the bot, in Discord's own menus: each becomes a case "by a moderator
in Discord" (named from the audit log where the bot may read it), through the same path as the
bot's own (an unban ends the ban in force with lifecycle.lift); and at start-up, Discord's ban list
compared with the bans in force, for what changed while the bot was offline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import discord
from discord.ext import commands

from cogs.moderation.lifecycle import Lifter, lift, put_in_force, queue_modlog
from db import moderation, outbox
from db.faults import is_outage, one_line
from db.moderation import Case

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

IN_DISCORD = "a moderator in Discord"
# The audit log may lag the gateway event: looked up this many times, this far apart, among the
# newest entries of the kind; an entry older than the event by more than the margin is another ban.
AUDIT_LOG_TRIES = 3
AUDIT_LOG_RETRY_S = 1.0
AUDIT_LOG_PAGE = 25
AUDIT_LOG_MARGIN = timedelta(minutes=2)
RECONCILE_AUDIT_PAGE = 100  # at start-up: the newest bans and unbans named from the audit log
SUMMARY_CASES = 25  # the start-up summary lists at most this many case numbers
# With no ban in force, an unban recorded this recently is the one being seen again (two processes
# told of it at a handover, or the bot's own unban seen by the process that did not make it).
SAME_UNBAN_S = 60.0


class MemberLocks:
    """One lock per member with a ban event being handled, dropped when the last holder leaves, so
    a member's ban and unban events are recorded in the order Discord sent them (the memory is
    bounded by the events in flight)."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        lock, holders = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, holders + 1)
        try:
            async with lock:  # taken at once when free: handlers queue in the order they started
                yield
        finally:
            lock, holders = self._locks[key]
            if holders == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, holders - 1)

    def __len__(self) -> int:
        return len(self._locks)


async def audit_entry(
    bot: ConclaveBot,
    action: discord.AuditLogAction,
    target_id: int,
    matches: Callable[[discord.AuditLogEntry], bool] | None = None,
) -> tuple[discord.abc.User | None, str | None]:
    """Who did `action` to `target_id` just now, and why, from the audit log (`matches`: only an
    entry it accepts, e.g. a member update that changed the timeout); (None, None) when the bot may
    not read it (View Audit Log) or no entry turns up."""
    guild = bot.home_guild
    if guild is None or guild.me is None or not guild.me.guild_permissions.view_audit_log:
        return None, None
    since = discord.utils.utcnow() - AUDIT_LOG_MARGIN
    for attempt in range(AUDIT_LOG_TRIES):
        try:
            async for entry in guild.audit_logs(limit=AUDIT_LOG_PAGE, action=action):
                if entry.target is not None and entry.target.id == target_id and (matches is None or matches(entry)):
                    return (entry.user, entry.reason) if entry.created_at >= since else (None, None)
        except discord.HTTPException as error:
            log.info("audit log not readable (%s): %s recorded as by %s", error.status, action.name, IN_DISCORD)
            return None, None
        if attempt + 1 < AUDIT_LOG_TRIES:
            await asyncio.sleep(AUDIT_LOG_RETRY_S)
    return None, None


async def _ban_reason(guild: discord.Guild, user: discord.abc.User) -> str | None:
    with contextlib.suppress(discord.HTTPException):
        return (await guild.fetch_ban(user)).reason
    return None


def _on_record(active: moderation.Sanction | None) -> bool:
    """Whether a ban seen in Discord is on record already: a permanent ban in force is. A temporary
    one is not: the ban made by hand is a case of its own, permanent like every ban Discord makes,
    and supersedes it, so the temporary ban's expiry never lifts it."""
    return active is not None and active.expires_at is None


def _why(what: str, reason: str | None) -> str:
    return f"{what}: {reason}" if reason else what


async def _record_ban(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    user: discord.abc.User,
    *,
    target_id: str,
    moderator_id: str | None,
    moderator: str,
    reason: str,
    modlog: bool = True,
    pre_existing: bool = False,
) -> Case:
    """A ban made in Discord, on record: the case and the ban in force (permanent: Discord's bans
    have no end); no DM and no Discord action, Discord has banned already. `pre_existing`: found
    at the first start, older than the bot's records."""
    metadata: dict[str, object] = {"target_discord_id": str(user.id), "in_discord": True, "told": False}
    if pre_existing:
        metadata["pre_existing"] = True
    case = await moderation.open_case(
        conn,
        guild_id=str(bot.guild_id),
        moderator_id=moderator_id,
        target_user_id=target_id,
        action="ban",
        reason=reason,
        metadata=metadata,
    )
    await put_in_force(conn, case, "ban", str(user.id), None)
    if modlog:
        await queue_modlog(conn, bot, case, target=str(user), moderator=moderator)
    return case


async def _moderator(bot: ConclaveBot, actor: discord.abc.User | None) -> tuple[str | None, str]:
    if actor is None:
        return None, IN_DISCORD
    return await bot.identity.user_id(actor), f"{actor} (in Discord)"  # type: ignore[arg-type]


class MenusWatcher(commands.Cog):
    """What moderators do in Discord's own menus, seen live (one member's events in order) and
    reconciled after the start-up member sync (`_reconcile`; `what` names it in the warning when
    the database is out then)."""

    what = "bans"

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.locks = MemberLocks()

    async def cog_load(self) -> None:
        self.bot.after_member_sync.append(self.reconcile)

    async def cog_unload(self) -> None:
        self.bot.after_member_sync.remove(self.reconcile)

    async def reconcile(self) -> None:
        try:
            await self._reconcile()
        except Exception as error:
            if not is_outage(error):
                raise
            log.warning("%s not reconciled with Discord at start-up: %s", self.what, one_line(error))

    async def _reconcile(self) -> None:
        raise NotImplementedError


class InDiscord(MenusWatcher):
    """Bans and unbans made in Discord; at start-up, bans made and lifted while the bot was offline."""

    @commands.Cog.listener()
    async def on_member_ban(self, guild: discord.Guild, user: discord.Member | discord.User) -> None:
        if guild.id != self.bot.guild_id:
            return
        async with self.locks.hold(user.id):
            case = await self.ban_seen(guild, user)
        if case is not None:
            self.bot.outbox.wake()
            log.info(
                "%s banned %s (%s) in Discord: case #%d", case.moderator_id or IN_DISCORD, user, user.id, case.number
            )

    @commands.Cog.listener()
    async def on_member_unban(self, guild: discord.Guild, user: discord.User) -> None:
        if guild.id != self.bot.guild_id:
            return
        async with self.locks.hold(user.id):
            case = await self.unban_seen(user)
        if case is not None:
            self.bot.outbox.wake()
            log.info(
                "%s unbanned %s (%s) in Discord: case #%d", case.moderator_id or IN_DISCORD, user, user.id, case.number
            )

    async def ban_seen(self, guild: discord.Guild, user: discord.abc.User) -> Case | None:
        """GUILD_BAN_ADD: a ban not on record and not the bot's own becomes a case (superseding a
        temporary ban in force: see _on_record)."""
        bot, guild_id, discord_id = self.bot, str(self.bot.guild_id), str(user.id)
        if bot.outbox.echoes.take("ban", discord_id):
            return None  # the bot's own (even one a quick unban lifted before it went out)
        async with bot.pool.acquire() as conn:
            if _on_record(await moderation.active_sanction(conn, guild_id, discord_id, "ban")):
                return None  # on record already (e.g. banned by hand while the bot's ban waits on its DM)
        actor, reason = await audit_entry(bot, discord.AuditLogAction.ban, user.id)
        if actor is not None and bot.user is not None and actor.id == bot.user.id:
            return None
        reason = reason or await _ban_reason(guild, user)
        target_id = await bot.identity.outside_id(user)  # banned: their departure is the member events' to say
        moderator_id, moderator = await _moderator(bot, actor)
        async with bot.pool.acquire() as conn, conn.transaction():
            # The member's lock, so that another process told of the same ban (a handover: both
            # gateways are open) waits, then finds it on record.
            await moderation.lock_member(conn, guild_id, discord_id)
            if _on_record(await moderation.active_sanction(conn, guild_id, discord_id, "ban", lock=True)):
                return None
            return await _record_ban(
                conn,
                bot,
                user,
                target_id=target_id,
                moderator_id=moderator_id,
                moderator=moderator,
                reason=_why("banned in Discord", reason),
            )

    async def unban_seen(self, user: discord.abc.User) -> Case | None:
        """GUILD_BAN_REMOVE: an unban that is not the bot's own ends the ban in force (or, with none
        on record, is a case of its own)."""
        bot, guild_id, discord_id = self.bot, str(self.bot.guild_id), str(user.id)
        if bot.outbox.echoes.take("unban", discord_id):
            return None
        actor, reason = await audit_entry(bot, discord.AuditLogAction.unban, user.id)
        if actor is not None and bot.user is not None and actor.id == bot.user.id:
            return None
        moderator_id, moderator = await _moderator(bot, actor)
        why = _why("unbanned in Discord", reason)
        async with bot.pool.acquire() as conn, conn.transaction():
            await moderation.lock_member(conn, guild_id, discord_id)  # as ban_seen
            active = await moderation.active_sanction(conn, guild_id, discord_id, "ban", lock=True)
            if active is not None:
                return await lift(conn, bot, active, Lifter("lifted", why, moderator_id, moderator, effect=False))
            if await moderation.unban_recorded_since(conn, guild_id, discord_id, SAME_UNBAN_S):
                return None  # this unban, recorded by another process told of it (or the bot's own)
            case = await moderation.open_case(
                conn,
                guild_id=guild_id,
                moderator_id=moderator_id,
                target_user_id=await bot.identity.outside_id(user),
                action="unban",
                reason=why,
                metadata={"target_discord_id": discord_id, "in_discord": True},
            )
            await queue_modlog(conn, bot, case, target=str(user), moderator=moderator)
            return case

    # -- start-up ------------------------------------------------------------------------------

    async def _reconcile(self) -> None:
        bot, guild = self.bot, self.bot.home_guild
        if guild is None:
            return
        try:
            banned = {str(entry.user.id): entry async for entry in guild.bans(limit=None)}
        except discord.HTTPException as error:
            log.warning("the server's bans are not readable (%s): bans changed while offline are not recorded", error)
            return
        guild_id = str(bot.guild_id)
        async with bot.pool.acquire() as conn:
            active = {s.target_discord_id: s for s in await moderation.active_sanctions(conn, guild_id, "ban")}
            busy = await outbox.pending_for_members(conn, ("ban", "unban"))  # about to change in Discord
            first = await moderation.first_reconcile(conn, guild_id)
        added = [entry for uid, entry in banned.items() if uid not in active and uid not in busy]
        removed = [s for uid, s in active.items() if uid not in banned and uid not in busy]
        if first:
            await self._record_pre_existing(added)
            return
        if not added and not removed:
            return
        actors = await self._recent_actors(guild)
        targets = {entry.user.id: await bot.identity.outside_id(entry.user) for entry in added}
        recorded: list[Case] = []
        async with bot.pool.acquire() as conn, conn.transaction():
            # The members' locks first, as ban_seen and unban_seen take them (a ban event handled
            # meanwhile, by this process or the one handing over, is on record once it is ours).
            for discord_id in sorted({str(e.user.id) for e in added} | {s.target_discord_id for s in removed}):
                await moderation.lock_member(conn, guild_id, discord_id)
            # The sanctions to lift, locked before the case counter is (the order of bot/core/locks.py)
            locked = [await moderation.lock_active_sanction(conn, s.id) for s in removed]
            bans = 0
            for entry in added:
                if await moderation.active_sanction(conn, guild_id, str(entry.user.id), "ban") is not None:
                    continue  # recorded meanwhile
                bans += 1
                actor, reason = actors.get((discord.AuditLogAction.ban, entry.user.id), (None, None))
                moderator_id, moderator = await _moderator(bot, actor)
                why = _why("banned in Discord while the bot was offline", reason or entry.reason)
                recorded.append(
                    await _record_ban(
                        conn,
                        bot,
                        entry.user,
                        target_id=targets[entry.user.id],
                        moderator_id=moderator_id,
                        moderator=moderator,
                        reason=why,
                        modlog=False,
                    )
                )
            for sanction in locked:
                if sanction is None:
                    continue  # ended meanwhile (its expiry ran)
                if await outbox.status_of(conn, f"case-action:{sanction.case_id}") in ("failed", "refused"):
                    continue  # never banned in Discord: its failure is on record, no unban happened
                key = (discord.AuditLogAction.unban, int(sanction.target_discord_id))
                actor, reason = actors.get(key, (None, None))
                moderator_id, moderator = await _moderator(bot, actor)
                why = _why("unbanned in Discord while the bot was offline", reason)
                by = Lifter("lifted", why, moderator_id, moderator, effect=False, modlog=False)
                case = await lift(conn, bot, sanction, by)
                if case is not None:
                    recorded.append(case)
            await self._queue_summary(conn, recorded, bans=bans, unbans=len(recorded) - bans)
        bot.outbox.wake()
        log.info("bans changed in Discord while offline: %d case(s) recorded", len(recorded))

    async def _record_pre_existing(self, found: list[discord.BanEntry]) -> None:
        """The first start: the bans already in Discord are older than the bot's records, not made
        while it was away. Each is a case of its own, marked pre-existing, with Discord's reason, so
        /mod history shows it, /mod unban closes it and an unban in Discord later lifts it; the
        modlog gets one line for all of them. Once recorded, later starts compare as usual."""
        bot = self.bot
        targets = {entry.user.id: await bot.identity.outside_id(entry.user) for entry in found}
        async with bot.pool.acquire() as conn, conn.transaction():
            if not await moderation.first_reconcile(conn, str(bot.guild_id), claim=True):
                return  # another process did it meanwhile
            recorded = [
                await _record_ban(
                    conn,
                    bot,
                    entry.user,
                    target_id=targets[entry.user.id],
                    moderator_id=None,
                    moderator=IN_DISCORD,
                    reason=_why("banned before the bot kept records", entry.reason),
                    modlog=False,
                    pre_existing=True,
                )
                for entry in found
            ]
            channel_id = bot.config.community.announcements.mod_log_channel_id
            if recorded and channel_id is not None:
                numbers = ", ".join(f"case #{c.number}" for c in recorded[:SUMMARY_CASES])
                more = f" and {len(recorded) - SUMMARY_CASES} more" if len(recorded) > SUMMARY_CASES else ""
                content = (
                    f"{len(recorded)} ban(s) were already in Discord when I first started: on record as "
                    f"pre-existing, {numbers}{more}."
                )
                await outbox.enqueue(
                    conn,
                    "channel_message",
                    {"channel_id": str(channel_id), "content": content, "embeds": []},
                    dedupe_key=f"bans-pre-existing:{recorded[0].id}",
                )
        bot.outbox.wake()
        log.info("first start: %d ban(s) already in Discord recorded as pre-existing", len(found))

    async def _recent_actors(
        self, guild: discord.Guild
    ) -> dict[tuple[discord.AuditLogAction, int], tuple[discord.abc.User | None, str | None]]:
        """Who made the newest bans and unbans, where the bot may read the audit log (newest wins)."""
        found: dict[tuple[discord.AuditLogAction, int], tuple[discord.abc.User | None, str | None]] = {}
        if guild.me is None or not guild.me.guild_permissions.view_audit_log:
            return found
        for action in (discord.AuditLogAction.ban, discord.AuditLogAction.unban):
            try:
                async for entry in guild.audit_logs(limit=RECONCILE_AUDIT_PAGE, action=action):
                    if entry.target is not None:
                        found.setdefault((action, entry.target.id), (entry.user, entry.reason))
            except discord.HTTPException as error:
                log.info("audit log not readable (%s) at start-up", error.status)
                return {}
        return found

    async def _queue_summary(self, conn: asyncpg.Connection, cases: list[Case], *, bans: int, unbans: int) -> None:
        if cases:
            content = (
                f"Bans changed in Discord while I was offline: {bans} ban(s) and {unbans} unban(s), "
                f"recorded as {_case_list(cases)}."
            )
            await self._queue_line(conn, content, f"bans-reconciled:{cases[0].id}")

    async def _queue_line(self, conn: asyncpg.Connection, content: str, key: str) -> None:
        await queue_modlog_line(conn, self.bot, content, key)


async def queue_modlog_line(conn: asyncpg.Connection, bot: ConclaveBot, content: str, key: str) -> None:
    """One line in the modlog channel (if there is one)."""
    channel_id = bot.config.community.announcements.mod_log_channel_id
    if channel_id is not None:
        await outbox.enqueue(
            conn,
            "channel_message",
            {"channel_id": str(channel_id), "content": content, "embeds": []},
            dedupe_key=key,
        )


def _case_list(cases: list[Case]) -> str:
    """The cases by number, at most SUMMARY_CASES of them ("case #3, case #4 and 12 more")."""
    numbers = ", ".join(f"case #{c.number}" for c in cases[:SUMMARY_CASES])
    return numbers + (f" and {len(cases) - SUMMARY_CASES} more" if len(cases) > SUMMARY_CASES else "")

"""XP's listeners and jobs: the message hook, the voice tick, streak resets, new periods, and members
leaving, returning or changing roles."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.checks import administrative
from bot.core.config import ConfigError
from bot.rules.xp import local_day
from cogs.xp import membership
from cogs.xp.engine import RECONCILE_EVERY_S, VOICE_TICK_S, XPEngine
from cogs.xp.levelups import restore_earned_roles
from db import pathways, users, xp
from db.faults import is_outage, one_line

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


async def refuse_powerful_reward_roles(bot: ConclaveBot) -> None:
    """A role handed out automatically must not carry administrative permissions: refuse to start."""
    community = bot.config.community
    rewarded = {r.role_id: f"xp.role_rewards (level {r.level})" for r in community.xp.role_rewards}
    for pathway in community.pathways:
        for title, role_id in pathway.rank_role_ids.items():
            rewarded[role_id] = f"pathways.{pathway.id}.rank_role_ids.{title}"
        if pathway.role_id is not None:  # members take it themselves with /pathway join
            rewarded[pathway.role_id] = f"pathways.{pathway.id}.role_id"
    # (the mute role is checked by the moderation cog, with the staff's /modconfig choice)
    if not rewarded:
        return
    roles = {int(r["id"]): r for r in await bot.http.get_roles(bot.guild_id)}
    problems = []
    for role_id, where in rewarded.items():
        role = roles.get(role_id)
        if role is None:
            problems.append(f"{where}: role {role_id} does not exist in the server")
            continue
        granted = administrative(int(role["permissions"]))
        if granted:
            names = ", ".join(granted)
            problems.append(f"{where}: role '{role['name']}' ({role_id}) has administrative permissions ({names})")
    if problems:
        raise ConfigError("refusing to hand out roles automatically:\n  " + "\n  ".join(problems))


class XPListeners(commands.Cog):
    def __init__(self, bot: ConclaveBot, engine: XPEngine) -> None:
        self.bot = bot
        self.engine = engine
        self.streaks_checked_on: date | None = None  # the local day broken streaks were last reset for

    async def cog_load(self) -> None:
        await refuse_powerful_reward_roles(self.bot)
        await self.engine.load()
        self.bot.message_hooks.append(self.engine.on_message)
        # Chat counts are written by the XP flush, with the XP, in one statement per member.
        self.bot.unregister_flush("activity")
        self.bot.register_flush("xp", self.engine.flush, spill=self.engine.spill_all)
        self.bot.after_member_sync.append(self.engine.reconcile_rankings)
        self.bot.after_member_sync.append(self.reset_streaks)  # once the journal can be written (below)
        self.bot.after_member_sync.append(self.reconcile_pathways)
        scheduler = self.bot.scheduler
        scheduler.add_job(
            self.voice_tick,
            "interval",
            seconds=VOICE_TICK_S,
            id="xp:voice",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self.reconcile,
            "interval",
            seconds=RECONCILE_EVERY_S,
            id="xp:reconcile",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        tz = self.bot.config.community.xp.timezone
        scheduler.add_job(
            self.new_day,
            "cron",
            hour=0,
            minute=0,
            second=5,
            timezone=tz,
            id="xp:new-day",
            replace_existing=True,
        )

    async def cog_unload(self) -> None:
        if self.engine.on_message in self.bot.message_hooks:
            self.bot.message_hooks.remove(self.engine.on_message)

    async def voice_tick(self) -> None:
        self.engine.voice_tick()

    async def reconcile(self) -> None:
        if self.bot.write_health.down:
            return  # nothing to compare with; the flush is riding out an outage
        try:
            await self.reset_streaks()  # a reset an outage put off
            await self.engine.reconcile_rankings()
        except Exception as error:
            if not is_outage(error):
                raise
            log.info("rank index check skipped: %s", one_line(error))

    async def reset_streaks(self) -> int:
        """Zero the streaks that missed yesterday, once a day, and only once every grant of an earlier
        day is written: a grant from before midnight that an outage (or a stop) kept in memory or in
        the journal would otherwise find its streak zeroed and start again at 1. Put off while any is
        left; the minute's check tries again. Returns the streaks reset."""
        today = local_day(datetime.now(UTC), self.bot.config.community.xp.timezone)
        if self.streaks_checked_on == today:
            return 0
        await self.engine.flush(everything=True)
        async with self.engine.lock:  # no flush writes these rows meanwhile
            if self.engine.writes.has_grants_before(today):
                log.info("broken streaks not reset yet: grants of earlier days are still to be written")
                return 0
            reset = await pathways.reset_broken_streaks(self.bot.pool, today)
        self.streaks_checked_on = today
        return reset

    async def new_day(self) -> None:
        await self.reset_streaks()
        await self.engine.roll_periods()

    async def reconcile_pathways(self) -> None:
        """After the member sync (the process leads: a --takeover once the old leader has stopped):
        pathway roles and pathway membership in step, from the joins on record now (a warm standby's
        were read at its start: a pathway left since, by command or by a role taken, was given back)."""
        guild = self.bot.home_guild
        if guild is not None:
            await self.engine.load_joined()
            await membership.reconcile(self.bot, self.engine, guild)

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if after.guild.id == self.bot.guild_id and not after.bot and before.roles != after.roles:
            await membership.follow_role_change(self.bot, self.engine, before, after)

    @commands.Cog.listener()
    async def on_member_departed(self, member: discord.Member, user_id: str) -> None:
        """Dispatched by the core cog once the departure is recorded: off every board."""
        await self.engine.member_left_or_joined(user_id, joined=False)

    @commands.Cog.listener()
    async def on_member_returned(self, member: discord.Member, user_id: str) -> None:
        """Dispatched by the core cog once a return is recorded: back on the boards, roles back."""
        await self.engine.member_left_or_joined(user_id, joined=True)
        async with self.bot.pool.acquire() as conn, conn.transaction():
            profile = await users.get_profile(conn, user_id)
            progress = await xp.pathway_progress(conn, user_id)
            levels = {"": profile.level} | {p.pathway_id: p.level for p in progress}
            ranks = {p.pathway_id: p.current_rank for p in progress}
            joined = set(profile.pathways)
            queued = await restore_earned_roles(conn, self.bot, member, levels, ranks, joined)
        if queued:
            self.bot.outbox.wake()

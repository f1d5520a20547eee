"""Community events: create, register with capacity and a FIFO waitlist, reminders and status on the
durable timers, cancellation. Events the website writes are picked up (scheduled) within a minute.

Split by role: `lifecycle` (scheduling, the timer handlers, what members are told), `commands`
(/event and the Register / Leave / Check in buttons), `attendance` (voice minutes, check-in, rewards),
`ratings` (the Rate button and form), `mirror` (Discord scheduled events), `announcement` (the
announcement message, kept current)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext.commands import Cog

from cogs.events import announcement
from cogs.events.attendance import Attendance
from cogs.events.commands import EventCommands, ListButton
from cogs.events.lifecycle import end_handler, reconcile, reminder_handler, start_handler
from cogs.events.mirror import Mirror
from cogs.events.ratings import RateButton
from cogs.events.registration import RegisterButton

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


class EventJobs(Cog):
    """Every minute: events written or edited elsewhere (the website) get their timers. Holds the
    attendance counter (fed by the XP engine's voice minutes, written every 5 s)."""

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.attendance = Attendance(bot)
        self.mirror = Mirror(bot)
        bot.doors.events_attendance = self.attendance
        bot.doors.events_mirror = self.mirror

    async def cog_load(self) -> None:
        self.bot.scheduler.add_job(
            self._reconcile, "interval", seconds=60, id="events:reconcile", replace_existing=True
        )  # type: ignore[attr-defined]

    async def cog_unload(self) -> None:
        self.bot.doors.events_attendance = self.bot.doors.events_mirror = None
        if self.bot.scheduler.get_job("events:reconcile") is not None:  # type: ignore[attr-defined]
            self.bot.scheduler.remove_job("events:reconcile")  # type: ignore[attr-defined]

    async def _reconcile(self) -> None:
        try:
            await reconcile(self.bot)
        except Exception as error:
            log.warning("events not reconciled: %s", error)
        try:
            await self.mirror.reconcile()
        except Exception as error:
            log.warning("Discord events not mirrored: %s", error)
        try:
            await announcement.refresh_stale(self.bot)
        except Exception as error:
            log.warning("event announcements not brought up to date: %s", error)

    @Cog.listener()
    async def on_scheduled_event_user_add(self, scheduled: discord.ScheduledEvent, user: discord.User) -> None:
        if scheduled.guild_id == self.bot.guild_id:
            await self.mirror.offer(scheduled, user)


async def setup(bot: ConclaveBot) -> None:
    bot.outbox.on_outcome(announcement.on_outcome)
    bot.timers.register("event_reminder", reminder_handler(bot))
    bot.timers.register("event_start", start_handler(bot))
    bot.timers.register("event_end", end_handler(bot))
    await reconcile(bot)
    await bot.add_cog(EventCommands(bot))
    jobs = EventJobs(bot)
    await bot.add_cog(jobs)
    if bot.doors.xp is not None:
        bot.doors.xp.add_voice_hook(jobs.attendance.credit)
    bot.erase_hooks.append(jobs.attendance.forget)
    bot.register_flush("event attendance", jobs.attendance.flush, every=5.0)
    bot.after_member_sync.append(jobs.mirror.reconcile)  # the guild is known then
    bot.add_dynamic_items(RegisterButton, ListButton, RateButton)

"""Community events: create, register with capacity and a FIFO waitlist, reminders and status on the
durable timers, cancellation. Events the website writes are picked up (scheduled) within a minute.

Split by role: `lifecycle` (scheduling, the timer handlers, what members are told), `commands`
(/event and the Register / Leave buttons)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext.commands import Cog

from cogs.events.commands import EventCommands, ListButton, RegisterButton
from cogs.events.lifecycle import end_handler, reconcile, reminder_handler, start_handler

if TYPE_CHECKING:
    from bot.client import ConclaveBot

log = logging.getLogger(__name__)


class EventJobs(Cog):
    """Every minute: events written or edited elsewhere (the website) get their timers."""

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.scheduler.add_job(
            self._reconcile, "interval", seconds=60, id="events:reconcile", replace_existing=True
        )  # type: ignore[attr-defined]

    async def cog_unload(self) -> None:
        if self.bot.scheduler.get_job("events:reconcile") is not None:  # type: ignore[attr-defined]
            self.bot.scheduler.remove_job("events:reconcile")  # type: ignore[attr-defined]

    async def _reconcile(self) -> None:
        try:
            await reconcile(self.bot)
        except Exception as error:
            log.warning("events not reconciled: %s", error)


async def setup(bot: ConclaveBot) -> None:
    bot.timers.register("event_reminder", reminder_handler(bot))
    bot.timers.register("event_start", start_handler(bot))
    bot.timers.register("event_end", end_handler(bot))
    await reconcile(bot)
    await bot.add_cog(EventCommands(bot))
    await bot.add_cog(EventJobs(bot))
    bot.add_dynamic_items(RegisterButton, ListButton)

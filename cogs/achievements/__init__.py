"""Achievements and the member's inbox: the catalog (the guide's table plus achievements.toml),
evaluation of members whose stats changed, exactly-once awards with XP through the ledger, unlock
effects through the outbox, live rarity, showcase, backfill, and /notifications.

Split by role: `engine` (catalog, evaluation, awards, rarity, backfill), `effects` (what an unlock
queues), `commands` (/achievements, /achievement), `inbox` (/notifications)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext.commands import Cog

from cogs.achievements.commands import AchievementCommands, AchievementsButton
from cogs.achievements.engine import RARITY_EVERY_S, AchievementEngine
from cogs.achievements.inbox import Inbox, InboxButton

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

IMPORTS_EVERY_S = 60  # an import made by `python -m bot import` reaches achievements within a minute


class AchievementJobs(Cog):
    """The background work: rarity every five minutes, time-based achievements hourly (expired
    notifications are removed by the bot's maintenance, bot/ops/maintenance.py)."""

    def __init__(self, bot: ConclaveBot, engine: AchievementEngine, inbox: Inbox) -> None:
        self.bot, self.engine, self.inbox = bot, engine, inbox

    async def cog_load(self) -> None:
        scheduler = self.bot.scheduler  # type: ignore[attr-defined]
        scheduler.add_job(
            self._rarity, "interval", seconds=RARITY_EVERY_S, id="achievements:rarity", replace_existing=True
        )
        scheduler.add_job(self._time_based, "interval", hours=1, id="achievements:time", replace_existing=True)
        scheduler.add_job(
            self._imports, "interval", seconds=IMPORTS_EVERY_S, id="achievements:imports", replace_existing=True
        )

    async def cog_unload(self) -> None:
        for job in ("achievements:rarity", "achievements:time", "achievements:imports"):
            if self.bot.scheduler.get_job(job) is not None:  # type: ignore[attr-defined]
                self.bot.scheduler.remove_job(job)  # type: ignore[attr-defined]

    async def _rarity(self) -> None:
        try:
            await self.engine.refresh_rarity()
        except Exception as error:
            log.warning("achievement rarity not refreshed: %s", error)

    async def _imports(self) -> None:
        try:
            await self.engine.after_imports()
        except Exception as error:
            log.warning("achievements not evaluated after an import: %s", error)

    async def _time_based(self) -> None:
        try:
            await self.engine.time_based()
        except Exception as error:
            log.warning("time-based achievements not evaluated: %s", error)


async def setup(bot: ConclaveBot) -> None:
    engine = AchievementEngine(bot)
    bot.doors.achievements = engine
    await engine.sync_catalog(bot.config.community.achievements.entries)
    await engine.load()
    await engine.refresh_rarity()
    bot.after_member_sync.append(engine.refresh_rarity)  # who is a current member is known then
    replayed = engine.replay()
    if replayed:
        log.info("%d achievement evaluation(s) kept at the last stop will run now", replayed)
    if bot.doors.xp is not None:
        bot.doors.xp.add_stats_hook(engine.touch)
    bot.register_flush("achievements", engine.flush, every=1.0, spill=engine.spill)
    inbox = Inbox(bot)
    await bot.add_cog(AchievementCommands(bot, engine))
    await bot.add_cog(inbox)
    await bot.add_cog(AchievementJobs(bot, engine, inbox))
    bot.add_dynamic_items(AchievementsButton, InboxButton)


async def teardown(bot: ConclaveBot) -> None:
    bot.doors.achievements = None  # the feature's door closes with it (bot/core/doors.py)

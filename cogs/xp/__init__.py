"""XP, levels and pathways: chat and voice XP, pathway ranks, level-up rewards, rank cards and leaderboards.

The feature is split by role: `engine` (the hot path and the flush), `pending` (what the flush has
yet to write, bounded, and the journal), `levelups` (what a level-up does), `membership` (pathways
joined by command or by role), `listeners` (events and jobs), `commands` / `pathway_commands` /
`admin` (slash commands), `boards` (the leaderboard message)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.xp.admin import StaffXP
from cogs.xp.boards import LeaderboardButton
from cogs.xp.commands import XPCommands
from cogs.xp.door import XPFeature
from cogs.xp.engine import XPEngine
from cogs.xp.listeners import XPListeners
from cogs.xp.pathway_commands import PathwayCommands

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


async def setup(bot: ConclaveBot) -> None:
    engine = XPEngine(bot)
    bot.doors.xp = XPFeature(bot, engine)
    await bot.add_cog(XPListeners(bot, engine))
    await bot.add_cog(XPCommands(bot, engine))
    await bot.add_cog(PathwayCommands(bot, engine))
    await bot.add_cog(StaffXP(bot, engine))
    bot.add_dynamic_items(LeaderboardButton)


async def teardown(bot: ConclaveBot) -> None:
    bot.doors.xp = None  # the feature's door closes with it (bot/core/doors.py)

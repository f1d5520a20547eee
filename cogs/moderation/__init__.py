"""Moderation: numbered cases, Discord actions through the outbox, durable expiry on the timers.

Split by role: `lifecycle` (what an action records and queues; `lift`, the one way a sanction ends),
`commands` (/mod), `cases` (/mod case edit and void), `purge`, `history` (the paged /mod history),
`evidence` (message menus), `automod`, `appeals` (/appeal, the DM's Appeal button, Accept / Deny),
`refusals` (a case's action Discord refuses),
`in_discord` (bans and unbans made in Discord's own menus, and those made while the bot was offline),
`timeouts_in_discord` (the same for timeouts given, changed and removed there),
`settings` (/modconfig)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.moderation.appeals import AppealButton, Appeals, DecisionButton, record_appeal_dm
from cogs.moderation.automod import Automod
from cogs.moderation.commands import ModerationCommands
from cogs.moderation.history import HistoryButton
from cogs.moderation.in_discord import InDiscord
from cogs.moderation.lifecycle import expiry_handler, record_case_dm
from cogs.moderation.refusals import Outcomes, refusal_hook
from cogs.moderation.settings import ModConfig
from cogs.moderation.timeouts_in_discord import TimeoutsInDiscord

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


async def setup(bot: ConclaveBot) -> None:
    bot.timers.register("sanction_expiry", expiry_handler(bot))
    bot.outbox.on_outcome(record_case_dm)
    bot.outbox.on_outcome(record_appeal_dm)
    outcomes = Outcomes()
    bot.outbox.on_outcome(refusal_hook(bot, outcomes))
    await bot.add_cog(ModerationCommands(bot, outcomes))
    await bot.add_cog(Appeals(bot))
    await bot.add_cog(InDiscord(bot))
    await bot.add_cog(TimeoutsInDiscord(bot))
    bot.add_dynamic_items(HistoryButton, AppealButton, DecisionButton)
    # Automod's message hook is in place only while it is on (/modconfig can turn it on and off).
    automod = Automod(bot)
    bot.scheduler.add_job(automod.forget_stale, "interval", seconds=60, id="automod:forget", replace_existing=True)
    await bot.add_cog(ModConfig(bot, automod))  # after automod: applying stored settings reconfigures it

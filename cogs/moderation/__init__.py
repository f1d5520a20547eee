"""Moderation: numbered cases, Discord actions through the outbox, durable expiry on the timers.

Split by role: `lifecycle` (what an action records and queues, how a sanction ends), `commands`
(/mod), `history` (the paged /mod history), `evidence` (message menus), `automod`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.moderation.automod import Automod
from cogs.moderation.commands import ModerationCommands
from cogs.moderation.history import HistoryButton
from cogs.moderation.lifecycle import expiry_handler, record_case_dm

if TYPE_CHECKING:
    from bot.client import ConclaveBot


async def setup(bot: ConclaveBot) -> None:
    bot.timers.register("sanction_expiry", expiry_handler(bot))
    bot.outbox.on_outcome(record_case_dm)
    await bot.add_cog(ModerationCommands(bot))
    bot.add_dynamic_items(HistoryButton)
    if bot.config.community.moderation.automod.enabled:
        bot.automod = Automod(bot)  # type: ignore[attr-defined]
        bot.message_hooks.append(bot.automod.on_message)  # type: ignore[attr-defined]
        bot.scheduler.add_job(
            bot.automod.forget_stale,
            "interval",
            seconds=60,
            id="automod:forget",
            replace_existing=True,  # type: ignore[attr-defined]
        )

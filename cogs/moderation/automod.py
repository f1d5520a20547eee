"""Light automod (off by default): a message flood or a mass mention times the member out, as a case
by the bot through the same path as a moderator's timeout. The hot path only counts in memory; the
case is recorded by a task of its own."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.core.checks import is_staff
from bot.rules.moderation import FloodWatch, capped_timeout, parse_duration
from cogs.moderation.lifecycle import Action, record

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


class Automod:
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self._acting: set[int] = set()  # members with a case being recorded (one at a time)
        self.tasks: set[asyncio.Task[None]] = set()
        self.reconfigure()

    def reconfigure(self) -> None:
        """Take the settings in force (conclave.toml, or as staff changed them with /modconfig): the
        message hook is installed only while automod is on, so it costs nothing per message when off."""
        self.settings = self.bot.config.community.moderation.automod
        self.flood = FloodWatch(self.settings.flood_messages, self.settings.flood_seconds)
        self.duration, _ = capped_timeout(parse_duration(self.settings.timeout))
        hooks = self.bot.message_hooks
        if self.settings.enabled and self.on_message not in hooks:
            hooks.append(self.on_message)
        elif not self.settings.enabled and self.on_message in hooks:
            hooks.remove(self.on_message)

    def on_message(self, message: discord.Message) -> None:
        """A message hook (member chat in the home guild, while automod is on): memory only."""
        author = message.author
        assert isinstance(author, discord.Member)
        if author.id in self._acting or is_staff(author, self.bot.config.community):
            return  # staff are not automodded
        mentioned = len({m.id for m in message.mentions if not m.bot and m.id != author.id})
        why = None
        if mentioned >= self.settings.mass_mentions:
            why = f"automod: mentioned {mentioned} members in one message"
        elif self.flood.message(author.id, time.monotonic()):
            why = f"automod: {self.settings.flood_messages} messages within {self.settings.flood_seconds:g} s"
        if why is not None:
            self._acting.add(author.id)
            context = {"channel_id": str(message.channel.id), "message_id": str(message.id), "automod": True}
            task = asyncio.create_task(self._timeout(author, why, context))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def forget_stale(self) -> None:
        """Drop the message times of members who went quiet (keeps the watch bounded)."""
        self.flood.forget_stale(time.monotonic())

    async def _timeout(self, member: discord.Member, why: str, context: dict) -> None:
        try:
            if member.is_timed_out():
                return
            action = Action("timeout", member, self.bot.user, why, self.duration, context=context)  # type: ignore[arg-type]
            case, *_ = await record(self.bot, action)
            log.info("automod timed out %s: case #%d (%s)", member.id, case.number, why)
        except Exception:
            log.exception("automod could not record a timeout for %s", member.id)
        finally:
            self._acting.discard(member.id)

"""The XP feature's door (bot/core/doors.py's XPDoor): what the other features may do with the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from bot.core.errors import NotFound
from cogs.xp.adjustments import Reversal, after_reversals, move_boards

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from bot.rules.ranking import BoardKey
    from cogs.xp.engine import FlushOutcome, XPEngine
    from cogs.xp.pending import Item
    from db import ledger


class XPFeature:
    """Holds the engine (`engine`, for the XP feature itself and the tests) behind the XPDoor."""

    def __init__(self, bot: ConclaveBot, engine: XPEngine) -> None:
        self.bot = bot
        self.engine = engine

    @staticmethod
    def of(bot: ConclaveBot) -> XPFeature:
        """The XP feature's own door as its own type, for its buttons (rebuilt from a custom id after a
        restart, they have no cog to ask): the engine without a cast."""
        door = bot.doors.xp
        if not isinstance(door, XPFeature):
            raise NotFound("XP is not running right now: try again in a moment.")
        return door

    @property
    def lock(self) -> asyncio.Lock:
        return self.engine.lock

    async def flush(self) -> FlushOutcome:
        return await self.engine.flush()

    def add_voice_hook(self, hook: Callable[[dict[int, tuple[int, int]]], None]) -> None:
        self.engine.voice_hooks.append(hook)

    def add_stats_hook(self, hook: Callable[[set[str]], None]) -> None:
        self.engine.stats_hooks.append(hook)

    def after_grants(self, result: ledger.GrantResult, members: dict[str, discord.Member]) -> None:
        """Call while holding the lock if the grants were made under it."""
        self.engine.move_rankings(result, members)
        self.engine.stats_changed({c.user_id for c in result.totals})

    def move_boards(self, member: discord.Member, changes: list[ledger.BoardChange]) -> None:
        move_boards(self.engine, member, changes)

    async def after_reversals(self, reversals: list[Reversal]) -> None:
        await after_reversals(self.bot, self.engine, reversals)

    async def position(self, key: BoardKey, xp: int) -> int:
        return await self.engine.position(key, xp)

    def drop_pending(self, discord_id: int) -> list[Item]:
        return self.engine.writes.drop(discord_id)

    def keep_pending(self, dropped: list[Item]) -> None:
        self.engine.writes.keep(dropped)

    def forget_voice(self, discord_id: int) -> None:
        self.engine.voice_clock.forget(discord_id)

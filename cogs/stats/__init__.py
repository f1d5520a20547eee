"""Server statistics: server_stats (the guide's singleton) and its daily history kept current by a
scheduled refresh, and /stats server | pathway | me with charts.

The refresh is one of the bot's maintenance jobs (bot/ops/maintenance.py): with two bot processes on
one database it runs once per period. It runs at start-up too, once the member list is synced."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.ops.maintenance import Job
from cogs.stats.commands import StatsCommands
from db import stats

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


def online_count(bot: ConclaveBot, guild: discord.Guild) -> int | None:
    """Members (not bots) online, when the presences intent is on; None otherwise (not tracked)."""
    if not bot.config.community.presences_intent:
        return None
    return sum(1 for m in guild.members if not m.bot and m.status is not discord.Status.offline)


async def refresh(bot: ConclaveBot, conn: asyncpg.Connection) -> stats.Snapshot | None:
    """Write server_stats and today's daily row from the tables and the guild as the bot sees it."""
    guild = bot.home_guild
    if guild is None:
        return None
    return await stats.refresh(
        conn,
        online_count=online_count(bot, guild),
        boost_level=guild.premium_tier,
        boost_count=guild.premium_subscription_count or 0,
    )


async def setup(bot: ConclaveBot) -> None:
    every = timedelta(minutes=bot.config.community.stats.refresh_minutes)

    async def job(conn: asyncpg.Connection) -> str:
        snapshot = await refresh(bot, conn)
        if snapshot is None:
            return "skipped: the bot is not in its server yet"
        return f"{snapshot.member_count} members, {snapshot.messages} messages today"

    bot.maintenance.add(Job("server_stats:refresh", every, job, first_after=every))

    async def after_sync() -> None:  # the figures are right as soon as the member list is
        await bot.maintenance.run("server_stats:refresh")

    bot.after_member_sync.append(after_sync)
    await bot.add_cog(StatsCommands(bot, refresh))

"""/stats server [period], /stats pathway name [period], /stats me [period]: an embed and a chart.

Discord does not let a command with subcommands be run by itself, so the issue's `/stats [period]`
is `/stats server [period]`. Charts are drawn in a worker thread (bot/ui/charts.py), two at a time.

The figures agree with /profile: the XP and counts waiting in memory are written first, then
server_stats is recomputed from the tables (one refresh at a time: whoever asks while one runs
shares the next), and the embed says the moment they are as of. /stats server and /stats pathway
answers are kept for cogs/stats/cache.py's TTL_S (30 s) per (guild, period), saying that moment too."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import asyncpg
import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import NotFound
from bot.ui import charts
from cogs.stats.cache import Answer, AnswerCache
from db import boards, stats

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

Period = Literal["7d", "30d", "90d", "365d"]
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
PERIOD_NAMES = {"7d": "the last 7 days", "30d": "the last 30 days", "90d": "the last 90 days", "365d": "the last year"}
PathwayChoice = Literal["gaming", "lorebound", "productive", "news"]
CHARTS_AT_ONCE = 2
log = logging.getLogger(__name__)
Refresh = Callable[["ConclaveBot", asyncpg.Connection], Awaitable[object]]


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _number(value: int | float) -> str:
    return f"{value:,}"


def _as_of(moment: datetime | None) -> str:
    """When the figures were computed, in the reader's own time (Discord renders <t:...:T>)."""
    if moment is None:
        return "Figures not computed yet."
    return f"Figures as of <t:{int(moment.timestamp())}:T>."


class StatsCommands(commands.Cog):
    stats_group = app_commands.Group(name="stats", description="How the community is doing", guild_only=True)

    def __init__(self, bot: ConclaveBot, refresh: Refresh) -> None:
        self.bot = bot
        self._refresh = refresh
        self._drawing = asyncio.Semaphore(CHARTS_AT_ONCE)
        self._refreshing = asyncio.Lock()
        self._refresh_began: float | None = None  # monotonic start of the last refresh made here
        self.answers = AnswerCache()

    async def _position(self, xp: int) -> int:
        """A total's place on the all-time board, as /rank shows it: the XP feature's rank index,
        or (without that feature) counted in SQL."""
        key = ("all", None, "")
        if self.bot.doors.xp is not None:
            return await self.bot.doors.xp.position(key, xp)
        return 1 + await boards.count_above(self.bot.pool, boards.Board(*key), xp)

    async def _send(
        self,
        interaction: discord.Interaction,
        embed: discord.Embed,
        draw: Callable[..., bytes],
        *args: object,
        keep_as: Hashable | None = None,
    ) -> None:
        """The embed with its chart (drawn in a worker thread); the embed alone if drawing fails.
        With `keep_as`, the answer is kept for the next calls (cogs/stats/cache.py)."""
        try:
            async with self._drawing:
                png = await asyncio.to_thread(draw, *args)
        except Exception:
            log.exception("a /stats chart could not be drawn; the figures are sent without it")
            embed.set_footer(text="The chart could not be drawn this time.")
            await interaction.followup.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
            return
        if keep_as is not None:
            self.answers.put(keep_as, Answer(embed.to_dict(), png))
        await self._send_answer(interaction, embed, png)

    async def _send_kept(self, interaction: discord.Interaction, key: Hashable) -> bool:
        """The answer kept for `key` (at most TTL_S old, saying what time it is as of), if any."""
        kept = self.answers.get(key)
        if kept is None:
            return False
        await self._send_answer(interaction, discord.Embed.from_dict(kept.embed), kept.png)
        return True

    async def _send_answer(self, interaction: discord.Interaction, embed: discord.Embed, png: bytes) -> None:
        embed.set_image(url="attachment://stats.png")
        await interaction.followup.send(
            embed=embed,
            file=discord.File(io.BytesIO(png), "stats.png"),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _refresh_now(self) -> None:
        """server_stats recomputed by a refresh that began after this call (one at a time: callers
        that queue behind a refresh share the one after it)."""
        asked = time.monotonic()
        async with self._refreshing:
            if self._refresh_began is not None and self._refresh_began >= asked:
                return
            self._refresh_began = time.monotonic()
            async with self.bot.pool.acquire() as conn:
                await self._refresh(self.bot, conn)

    async def _fresh_history(self, period: str) -> tuple[stats.ServerStats, list[stats.Day], date, date]:
        """The current figures, with every write waiting in memory in them, and the history."""
        await self.bot.write_now("xp", "activity")
        await self._refresh_now()
        async with self.bot.pool.acquire() as conn:
            current = await stats.current(conn)
            today = await stats.today(conn)
            since = today - timedelta(days=PERIOD_DAYS[period] - 1)
            history = await stats.days(conn, since)
        return current, history, since, today

    @stats_group.command(name="server", description="Members, messages and XP over a period, with a chart")
    @app_commands.describe(period="how far back (default: 30 days)")
    async def server(self, interaction: discord.Interaction, period: Period = "30d") -> None:
        await interaction.response.defer(thinking=True)
        key = (interaction.guild_id, "server", period)
        if await self._send_kept(interaction, key):
            return
        current, history, since, today = await self._fresh_history(period)
        async with self.bot.pool.acquire() as conn:
            top_commands = await stats.command_counts(conn, datetime.combine(since, datetime.min.time(), UTC), limit=5)
        embed = discord.Embed(
            title=f"The Conclave Realm: {PERIOD_NAMES[period]}", colour=0xC9A227, description=_as_of(current.updated_at)
        )
        first = next((d for d in history if d.member_count is not None), None)  # the first day counted
        change = current.member_count - first.member_count if first and first.member_count else 0
        embed.add_field(
            name="Members",
            value=f"{_number(current.member_count)} ({'+' if change >= 0 else ''}{change} in the period)",
        )
        online = (
            _number(current.online_count)
            if self.bot.config.community.presences_intent
            else "not tracked (presences intent off)"
        )
        embed.add_field(name="Online", value=online)
        embed.add_field(name="Boosts", value=f"{current.boost_count} (level {current.boost_level})")
        today_row = history[-1] if history and history[-1].day == today else None
        embed.add_field(
            name="Today",
            value=(
                f"{_number(today_row.messages)} messages · {_number(today_row.voice_minutes)} voice minutes"
                if today_row
                else "no activity yet"
            ),
        )
        embed.add_field(name="Active members (7 days)", value=_number(today_row.active_members if today_row else 0))
        embed.add_field(
            name="In the period",
            value=(
                f"{_number(sum(d.messages for d in history))} messages · "
                f"{_number(sum(d.voice_minutes for d in history))} voice minutes · "
                f"{_number(sum(d.xp.get('total', 0) for d in history))} XP · "
                f"{sum(d.joins for d in history)} joined, {sum(d.leaves for d in history)} left"
            ),
            inline=False,
        )
        pathways = " · ".join(
            f"{self._pathway_name(p)} {_number(current.pathway_stats.get(p, 0))}" for p in stats.PATHWAYS
        )
        embed.add_field(name="Pathway members", value=pathways, inline=False)
        if top_commands:
            embed.add_field(
                name="Most used commands",
                value=" · ".join(f"/{name} {uses}" for name, uses in top_commands),
                inline=False,
            )
        await self._send(
            interaction, embed, charts.server_chart, history, "The Conclave Realm", since, today, keep_as=key
        )

    def _pathway_name(self, pathway: str) -> str:
        config = self.bot.config.community.pathway(pathway)
        return config.name if config else pathway

    @stats_group.command(name="pathway", description="One pathway's members, XP and leaders, with a chart")
    @app_commands.describe(name="which pathway", period="how far back (default: 30 days)")
    async def pathway(self, interaction: discord.Interaction, name: PathwayChoice, period: Period = "30d") -> None:
        await interaction.response.defer(thinking=True)
        key = (interaction.guild_id, "pathway", name, period)
        if await self._send_kept(interaction, key):
            return
        current, history, since, today = await self._fresh_history(period)
        async with self.bot.pool.acquire() as conn:
            summary = await stats.pathway_summary(conn, name)
        title = self._pathway_name(name)
        embed = discord.Embed(
            title=f"{title}: {PERIOD_NAMES[period]}", colour=0xC9A227, description=_as_of(current.updated_at)
        )
        embed.add_field(name="Members", value=_number(summary.members_in_server))
        embed.add_field(name="With XP in it", value=_number(summary.members_with_xp))
        embed.add_field(name="Average level", value=f"{summary.average_level:.1f}")
        embed.add_field(name="Total XP", value=_number(summary.total_xp))
        embed.add_field(name="XP in the period", value=_number(sum(d.xp.get(name, 0) for d in history)))
        if summary.top:
            embed.add_field(
                name="Leaders",
                value="\n".join(
                    f"{i}. <@{discord_id}> · level {level} · {_number(xp)} XP"
                    for i, (discord_id, level, xp) in enumerate(summary.top, 1)
                ),
                inline=False,
            )
        await self._send(interaction, embed, charts.pathway_chart, history, name, title, since, today, keep_as=key)

    @stats_group.command(name="me", description="Your level, activity and XP per day, with a chart (only you see it)")
    @app_commands.describe(period="how far back (default: 30 days)")
    async def me(self, interaction: discord.Interaction, period: Period = "30d") -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await self.bot.write_now("xp", "activity")  # your own figures, with what you just did
        user_id = await self.bot.identity.user_id(interaction.user)
        async with self.bot.pool.acquire() as conn:
            today = await stats.today(conn)
            since = today - timedelta(days=PERIOD_DAYS[period] - 1)
            mine = await stats.member_stats(conn, user_id, since)
        if mine is None:
            raise NotFound("The community keeps no figures about you yet: chat a little first.")
        # The same place /rank shows: the rank index (or, without the XP feature, counted in SQL).
        rank = await self._position(mine.total_xp) if mine.total_xp > 0 else None
        embed = discord.Embed(title=f"{interaction.user.display_name}: {PERIOD_NAMES[period]}", colour=0xC9A227)
        embed.add_field(name="Level", value=f"{mine.level} ({_number(mine.total_xp)} XP)")
        embed.add_field(name="Rank", value=f"#{rank}" if rank else "not ranked yet")
        embed.add_field(name="Messages", value=_number(mine.messages))
        embed.add_field(name="Voice minutes", value=_number(mine.voice_minutes))
        embed.add_field(name="Events attended", value=_number(mine.events_attended))
        embed.add_field(name="Achievements", value=_number(mine.achievements))
        embed.add_field(
            name="XP in the period",
            value=_number(sum(day.get("total", 0) for day in mine.xp_by_day.values())),
            inline=False,
        )
        await self._send(interaction, embed, charts.member_chart, mine.xp_by_day, _days(since, today), "Your XP")

"""Members' XP commands: /rank, /leaderboard and /profile."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import NotFound
from bot.rules.progression import progress_for, rank_title
from bot.ui.embeds import BRAND
from bot.ui.rank_card import Badge, CardData, draw_rank_card
from cogs.xp.boards import LeaderboardButton, board_key, leaderboard_message
from cogs.xp.engine import XPEngine
from db import achievements, notifications, users, xp

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

PathwayChoice = Literal["gaming", "lorebound", "productive", "news"]
Period = Literal["all-time", "month", "week"]


async def avatar_bytes(member: discord.Member | discord.User) -> bytes | None:
    try:
        return await asyncio.wait_for(member.display_avatar.with_size(128).read(), timeout=2)
    except (discord.HTTPException, discord.NotFound, TimeoutError, OSError, ValueError):
        return None


class XPCommands(commands.Cog):
    def __init__(self, bot: ConclaveBot, engine: XPEngine) -> None:
        self.bot = bot
        self.engine = engine

    def _pathway_name(self, pathway: str) -> str:
        config = self.bot.config.community.pathway(pathway)
        return config.name if config else pathway

    async def _profile_of(self, member: discord.Member) -> tuple[str, users.Profile, bool]:
        """The member's users.id and profile, with what they earned a moment ago written first;
        the flag says whether some of it is still being counted (the write did not finish in time)."""
        if member.bot:
            raise NotFound("Bots don't earn XP.")
        counting = False
        # Pending here, or taken by a flush that has not committed yet: written (or waited for) first.
        if self.engine.writes.has_pending(member.id) or self.engine.lock.locked():
            counting = not await self.bot.write_now("xp")
        user_id = await self.bot.identity.user_id(member)
        profile = await users.get_profile(self.bot.pool, user_id)
        if profile is None:
            raise NotFound(f"{member.display_name} has no profile yet.")
        return user_id, profile, counting

    @app_commands.command(name="rank", description="Your rank card (or another member's)")
    @app_commands.describe(member="whose card (default: yours)", pathway="a pathway's rank instead of the global one")
    @app_commands.guild_only()
    async def rank(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        pathway: PathwayChoice | None = None,
    ) -> None:
        target = member or interaction.user
        assert isinstance(target, discord.Member)
        await interaction.response.defer(thinking=True)
        user_id, profile, counting = await self._profile_of(target)
        progress = {p.pathway_id: p for p in await xp.pathway_progress(self.bot.pool, user_id)}
        titles = self.bot.config.community.xp.rank_titles
        if pathway is not None:
            mine = progress.get(pathway)
            total = mine.total_xp if mine else 0
            subtitle = self._pathway_name(pathway)
        else:
            total = profile.total_xp
            subtitle = "Global"
        shape = progress_for(total, titles)
        position = self.engine.rankings.position(board_key(pathway, "all", self.engine), total)
        badges = [
            Badge(p, f"{self._pathway_name(p).split()[0]} {progress[p].level}" if p in progress else p)
            for p in profile.pathways
        ]
        shown = [a.name for a in await achievements.showcased(self.bot.pool, user_id)]
        card = CardData(
            name=target.display_name,
            level=shape.level,
            rank_title=shape.rank,
            xp_into_level=shape.xp,
            xp_for_level=shape.next_level_xp - (shape.level - 1) ** 2 * 100,
            total_xp=total,
            position=position,
            avatar_png=await avatar_bytes(target),
            subtitle=subtitle,
            badges=badges,
            showcase=shown,
        )
        where = f" in {subtitle}" if pathway else ""
        summary = (
            f"{target.display_name}: level {shape.level}{where} ({rank_title(shape.level, titles)}), "
            f"{total:,} XP, {'#' + str(position) if position else 'unranked'}"
        )
        if counting:
            summary += " · counting…"  # the latest messages are not written yet
        if shown:
            summary += f" · showcase: {', '.join(discord.utils.escape_markdown(n) for n in shown)}"
        try:
            png = await asyncio.to_thread(draw_rank_card, card)
        except Exception:
            log.exception("drawing the rank card failed; answering with an embed")
            embed = discord.Embed(
                title=f"{target.display_name} — level {shape.level}", colour=BRAND, description=summary
            )
            embed.add_field(name="Progress", value=f"{shape.xp:,} / {card.xp_for_level:,} XP")
            await interaction.followup.send(embed=embed)
            return
        await interaction.followup.send(summary, file=discord.File(io.BytesIO(png), filename="rank.png"))

    @app_commands.command(name="leaderboard", description="The top members, 10 a page")
    @app_commands.describe(pathway="a pathway's board (default: global)", period="all-time, this month or this week")
    @app_commands.guild_only()
    async def leaderboard(
        self,
        interaction: discord.Interaction,
        pathway: PathwayChoice | None = None,
        period: Period = "all-time",
    ) -> None:
        key_period = "all" if period == "all-time" else period
        embed, view = await leaderboard_message(self.bot, self.engine, pathway or "", key_period, None)
        await interaction.response.send_message(embed=embed, view=view)

    @app_commands.command(name="profile", description="Level, XP, activity and pathways of a member")
    @app_commands.describe(member="whose profile (default: yours)")
    @app_commands.guild_only()
    async def profile(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        target = member or interaction.user
        assert isinstance(target, discord.Member)
        await interaction.response.defer(thinking=True)
        user_id, profile, counting = await self._profile_of(target)
        progress = await xp.pathway_progress(self.bot.pool, user_id)
        shape = progress_for(profile.total_xp, self.bot.config.community.xp.rank_titles)
        embed = discord.Embed(title=f"{target.display_name}'s profile", colour=BRAND)
        embed.add_field(name="Level", value=str(profile.level))
        still = " · counting…" if counting else ""  # the latest messages are not written yet
        embed.add_field(name="XP", value=f"{profile.total_xp:,} ({shape.needed:,} to level {shape.level + 1}){still}")
        embed.add_field(name="Messages", value=f"{profile.message_count:,}")
        embed.add_field(name="Voice", value=f"{profile.voice_minutes:,} min")
        embed.add_field(name="Events attended", value=str(profile.events_attended))
        joined = set(profile.pathways)
        lines = []
        for p in progress:
            if p.pathway_id not in joined and p.total_xp == 0:
                continue
            star = " ★" if p.pathway_id == profile.primary_pathway else ""
            left = "" if p.pathway_id in joined else " (left)"
            lines.append(
                f"**{self._pathway_name(p.pathway_id)}**{star}{left}: level {p.level}, {p.current_rank}, "
                f"{p.total_xp:,} XP, streak {p.streak_days} day{'s' if p.streak_days != 1 else ''}"
            )
        embed.add_field(name="Pathways", value="\n".join(lines) or "none joined yet (/pathway join)", inline=False)
        shown = await achievements.showcased(self.bot.pool, user_id)
        if shown:
            names = " · ".join(f"🏆 {discord.utils.escape_markdown(a.name)}" for a in shown)
            embed.add_field(name="Showcase", value=names, inline=False)
        if target.id == interaction.user.id:
            unread = await notifications.unread_count(self.bot.pool, user_id)
            embed.add_field(name="Notifications", value=f"{unread} unread (/notifications)")
        await interaction.followup.send(embed=embed)


__all__ = ["LeaderboardButton", "XPCommands"]

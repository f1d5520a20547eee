"""Achievements as members see them: the paged list (earned, in progress, locked, hidden counted but
not named), one achievement in full, and the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.rules.achievements import progress_bar
from bot.ui.echo import echo
from db.achievements import Achievement
from db.notifications import Notification

TIERS = {"common": "Common", "uncommon": "Uncommon", "rare": "Rare", "epic": "Epic", "legendary": "Legendary",
         "mythic": "Mythic"}  # fmt: skip


@dataclass(frozen=True)
class Line:
    achievement: Achievement
    earned_at: datetime | None
    progress: int
    current: int | None  # current/target for a single-metric rule
    target: int | None
    rarity: float | None  # % of current members holding it


def rarity_text(percent: float | None, tier: str) -> str:
    live = f"{percent:.1f}% of members" if percent is not None else "rarity pending"
    return f"{TIERS.get(tier, tier)} · {live}"


def line_text(line: Line) -> str:
    a = line.achievement
    name = discord.utils.escape_markdown(a.name)
    rarity = rarity_text(line.rarity, a.rarity)
    if line.earned_at is not None:
        return f"🏆 **{name}** · {rarity} · earned {discord.utils.format_dt(line.earned_at, 'd')}"
    figures = f" ({line.current:,}/{line.target:,})" if line.current is not None and line.target else ""
    return f"{progress_bar(line.progress)} {line.progress}%{figures} **{name}** · {rarity}"


def list_embed(
    owner: str, lines: Sequence[Line], *, hidden: int, page: int, pages: int, earned: int, shown_total: int
) -> discord.Embed:
    embed = discord.Embed(title=f"{discord.utils.escape_markdown(owner)}'s achievements", colour=0xF1C40F)
    body = [line_text(line) for line in lines] or ["Nothing here yet."]
    if hidden and page == pages:
        body.append(f"??? ({hidden} hidden)")
    embed.description = "\n".join(body)
    embed.set_footer(text=f"{earned} of {shown_total + hidden} earned · page {page}/{pages}")
    return embed


def info_embed(
    achievement: Achievement,
    *,
    requirement: str,
    rarity: float | None,
    first_earner: str | None,
    earned_at: datetime | None,
    progress: int | None,
) -> discord.Embed:
    a = achievement
    embed = discord.Embed(
        title=f"🏆 {a.name}" if earned_at else a.name,
        description=discord.utils.escape_markdown(a.description or ""),
        colour=0xF1C40F,
    )
    embed.add_field(name="Requirement", value=requirement[:1024], inline=False)
    embed.add_field(name="Rarity", value=rarity_text(rarity, a.rarity))
    embed.add_field(name="XP", value=f"{a.xp:,}")
    embed.add_field(name="Earned by", value=f"{a.total_earned:,} member(s)")
    if first_earner:
        when = f" {discord.utils.format_dt(a.first_earned_at, 'd')}" if a.first_earned_at else ""
        embed.add_field(name="First", value=f"{first_earner}{when}")
    if earned_at:
        embed.add_field(name="You", value=f"earned {discord.utils.format_dt(earned_at, 'd')}")
    elif progress is not None:
        embed.add_field(name="You", value=f"{progress_bar(progress)} {progress}%")
    if a.pathway:
        embed.set_footer(text=f"{a.pathway} · {a.category or 'achievement'}")
    return embed


def inbox_embed(items: Sequence[Notification], *, unread: int) -> discord.Embed:
    embed = discord.Embed(title="Your notifications", colour=0x3498DB)
    if not items:
        embed.description = "No unread notifications."
        return embed
    lines = []
    for n in items:
        when = discord.utils.format_dt(n.created_at, "R")
        text = discord.utils.escape_markdown(n.message or "")[:200]
        # Titles come from the website too (TEXT, no bound): five of them must fit the 4,096 of a description.
        lines.append(f"**{echo(n.title, 200)}** · {when}" + (f"\n{text}" if text else ""))
    embed.description = "\n\n".join(lines)
    embed.set_footer(text=f"{unread} unread")
    return embed

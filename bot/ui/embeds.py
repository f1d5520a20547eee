"""Embed builders shared by the cogs."""

from __future__ import annotations

import discord

BRAND = discord.Colour(0x6D4AFF)


def duration_text(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    if minutes or hours or days:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def about_embed(
    *, version: str, uptime_seconds: float, database: str, latency_ms: float | None, members: int | None
) -> discord.Embed:
    embed = discord.Embed(
        title="Conclave",
        description="The Conclave Realm's bot: XP and pathways, achievements, events, moderation, stats.",
        colour=BRAND,
    )
    embed.add_field(name="Version", value=version)
    embed.add_field(name="Uptime", value=duration_text(uptime_seconds))
    embed.add_field(name="Database", value=f"PostgreSQL ({database})")
    embed.add_field(name="Gateway latency", value=f"{latency_ms:.0f} ms" if latency_ms is not None else "measuring")
    if members is not None:
        embed.add_field(name="Members", value=str(members))
    return embed

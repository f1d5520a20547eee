"""Embed builders shared by the cogs."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.ops.metrics import Summary
from db.dead_letters import DeadLetter

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
        description="The Conclave Realm's bot: XP, pathways, rank cards, leaderboards, moderation, "
        "achievements, events and server statistics.",
        colour=BRAND,
    )
    embed.add_field(name="Version", value=version)
    embed.add_field(name="Uptime", value=duration_text(uptime_seconds))
    embed.add_field(name="Database", value=f"PostgreSQL ({database})")
    embed.add_field(name="Gateway latency", value=f"{latency_ms:.0f} ms" if latency_ms is not None else "measuring")
    if members is not None:
        embed.add_field(name="Members", value=str(members))
    return embed


def add_health_fields(embed: discord.Embed, s: Summary, analytics_waiting: int) -> None:
    """The operations summary for staff (the same figures as the metrics endpoint)."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    oldest = "" if s.outbox_oldest_seconds is None else f", oldest {duration_text(s.outbox_oldest_seconds)}"
    embed.add_field(name="Messages", value=f"{s.messages_per_second:.2f}/s ({s.messages_total} since start)")
    embed.add_field(name="Flush latency", value=f"p50 {ms(s.flush_p50_ms)} · p99 {ms(s.flush_p99_ms)}")
    embed.add_field(
        name="Interaction latency", value=f"p50 {ms(s.interaction_p50_ms)} · p99 {ms(s.interaction_p99_ms)}"
    )
    embed.add_field(name="Outbox", value=f"{s.outbox_pending} waiting{oldest}")
    embed.add_field(name="Dead letters", value=str(s.dead_letters))
    embed.add_field(name="Database pool", value=f"{s.pool_in_use} in use · {s.pool_size} open · {s.pool_max} max")
    embed.add_field(name="Analytics waiting", value=str(analytics_waiting))


def add_leadership_fields(embed: discord.Embed, leader: str, changes: Sequence[str]) -> None:
    """Who leads among the bot processes on this database, and the last leadership changes."""
    embed.add_field(name="Leader", value=leader[:1024], inline=False)
    if changes:
        embed.add_field(name="Last leadership changes", value="\n".join(changes)[:1024], inline=False)


def dead_letters_embed(letters: Sequence[DeadLetter], total: int) -> discord.Embed:
    """Refused writes for staff: what, when, why, and what to do."""
    embed = discord.Embed(title=f"Refused writes: {total} pending", colour=BRAND)
    if not letters:
        embed.description = "Nothing is waiting: every write the bot made was accepted."
        return embed
    lines = []
    for d in letters:
        member = d.payload.get("discord_id")
        who = f" <@{member}>" if member else ""
        lines.append(f"**#{d.id}** {d.kind}{who} · {discord.utils.format_dt(d.created_at, 'R')}\n{d.error[:180]}")
    embed.description = "\n".join(lines)
    more = f"{total - len(letters)} more · " if total > len(letters) else ""
    embed.set_footer(text=f"{more}/deadletter replay or discard · python -m bot doctor lists them all")
    return embed


TITLE_MAX = 256  # Discord's limit on an embed title


def bounded_title(text: str) -> str:
    """An embed title within Discord's 256 characters (event titles come from the website too)."""
    return bounded(text, TITLE_MAX)


def bounded(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"

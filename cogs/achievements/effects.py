"""What an unlock does besides the award: a notifications row (the website's inbox and /notifications),
an announcement in the configured channel or a DM (the member's choice), and the catalog's reward
role; all through the outbox, in the award's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import discord

from db import notifications, outbox
from db.achievements import Achievement, AwardTarget

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

RARITY_COLOURS = {
    "common": 0x95A5A6,
    "uncommon": 0x2ECC71,
    "rare": 0x3498DB,
    "epic": 0x9B59B6,
    "legendary": 0xF1C40F,
    "mythic": 0xE91E63,
}


def unlock_embed(achievement: Achievement, *, mention: str | None) -> discord.Embed:
    who = f"{mention} unlocked" if mention else "You unlocked"
    embed = discord.Embed(
        title=f"🏆 {achievement.name}",
        description=f"{who} **{discord.utils.escape_markdown(achievement.name)}**!",
        colour=RARITY_COLOURS.get(achievement.rarity, 0xF1C40F),
    )
    if achievement.description:
        embed.add_field(name="How", value=discord.utils.escape_markdown(achievement.description)[:1000], inline=False)
    embed.add_field(name="Tier", value=achievement.rarity)
    if achievement.xp:
        embed.add_field(name="XP", value=f"+{achievement.xp:,}")
    return embed


async def queue_unlock_effects(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    achievement: Achievement,
    targets: list[AwardTarget],
    *,
    reward_role_id: int | None,
    announce: bool = True,
) -> int:
    """Queue every member's unlock effects; returns how many outbox items were queued. Without
    `announce` (a backfill), nobody is announced or DMed: the notifications and reward roles only."""
    settings = bot.config.community
    channel_id = settings.achievements.announce_channel_id or settings.announcements.general_channel_id
    await notifications.notify_many(
        conn,
        [t.user_id for t in targets],
        f"Achievement unlocked: {achievement.name}",
        achievement.description,
        type=achievement.pathway or "success",
        metadata={"achievement_id": achievement.id, "source": "achievement", "xp": achievement.xp},
        action_url=f"/achievements/{achievement.id}",
    )
    queued = 0
    for t in targets:
        key = f"achievement:{achievement.id}:{t.user_id}:{t.discord_id}"
        if not announce:
            pass
        elif t.notify == "channel" and channel_id is not None:
            embed = unlock_embed(achievement, mention=f"<@{t.discord_id}>")
            payload = {"channel_id": str(channel_id), "content": f"<@{t.discord_id}>", "embeds": [embed.to_dict()]}
            queued += await outbox.enqueue(conn, "channel_message", payload, dedupe_key=key) is not None
        elif t.notify == "dm":
            embed = unlock_embed(achievement, mention=None)
            payload = {"user_id": t.discord_id, "content": None, "embeds": [embed.to_dict()]}
            queued += await outbox.enqueue(conn, "dm", payload, dedupe_key=key) is not None
        if reward_role_id is not None:
            payload = {
                "guild_id": str(bot.guild_id),
                "user_id": t.discord_id,
                "role_id": str(reward_role_id),
                "reason": f"achievement {achievement.id}",
            }
            queued += await outbox.enqueue(conn, "add_role", payload, dedupe_key=f"{key}:role") is not None
    return queued


async def queue_reward_removal(
    conn: asyncpg.Connection, bot: ConclaveBot, discord_id: str, role_id: int, achievement_id: str
) -> None:
    """A revoked achievement's reward role is taken back."""
    payload = {
        "guild_id": str(bot.guild_id),
        "user_id": discord_id,
        "role_id": str(role_id),
        "reason": f"achievement {achievement_id} revoked",
    }
    await outbox.enqueue(conn, "remove_role", payload)

"""Helpers for the XP end-to-end tests."""

from __future__ import annotations

import asyncio

from bot.core.community import AnnouncementConfig, XPConfig
from bot.sandbox.harness import Harness

# XP tests run without achievements, whose XP would blur the figures they check (the achievement
# tests load them, on top of the XP).
XP_COGS = ["cogs.core", "cogs.xp", "cogs.moderation"]


async def start(
    harness: Harness,
    *,
    announcements: dict | None = None,
    pathway_overrides: dict | None = None,
    cogs: list[str] | None = None,
    community: dict | None = None,
    **xp: object,
):
    """Start the bot with these XP rules (by default: 20 XP a message, no cooldown)."""
    demo = harness.demo
    settings = {"message_min": 20, "message_max": 20, "cooldown_seconds": 0, **xp}
    overrides = community or {}
    community = demo.community_config(xp=XPConfig(**settings), cogs=cogs or XP_COGS, **overrides)
    if announcements is not None:
        merged = community.announcements.model_dump() | announcements
        community = community.model_copy(update={"announcements": AnnouncementConfig(**merged)})
    if pathway_overrides:
        pathways = [p.model_copy(update=pathway_overrides.get(p.id, {})) for p in community.pathways]
        community = community.model_copy(update={"pathways": pathways})
    harness.community = community
    return await harness.start_bot()


async def handled(bot, count: int, timeout: float = 5.0) -> None:
    """Wait until the bot has handled `count` member messages in total, then flush XP."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while bot.chat_activity.received < count:
        if loop.time() > deadline:
            raise AssertionError(f"the bot handled {bot.chat_activity.received} of {count} messages")
        await asyncio.sleep(0.01)
    await bot.flush_all()


async def ledger_rows(pool, discord_id: str) -> list:
    return await pool.fetch(
        """SELECT l.source, l.source_ref, l.pathway, l.amount FROM xp_ledger l JOIN users u ON u.id = l.user_id
           WHERE u.discord_id = $1 ORDER BY l.id""",
        discord_id,
    )


async def total_xp(pool, discord_id: str) -> int:
    return await pool.fetchval(
        "SELECT up.total_xp FROM user_profiles up JOIN users u ON u.id = up.user_id WHERE u.discord_id = $1",
        discord_id,
    )

"""What happens on a level-up: a notification row, an announcement, reward and rank roles; all
written in the transaction of the XP change (roles and messages through the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.rules.progression import rank_title
from bot.rules.xp import rank_role_for, reward_roles_for
from db import notifications, outbox
from db.ledger import BoardChange

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


@dataclass
class LevelUpContext:
    bot: ConclaveBot
    members: dict[str, discord.Member]  # users.id -> member
    channels: dict[str, int]  # users.id -> channel of the message that earned it


def pathway_name(bot: ConclaveBot, pathway: str) -> str:
    config = bot.config.community.pathway(pathway)
    return config.name if config else pathway


def announcement_text(bot: ConclaveBot, member: discord.Member, change: BoardChange) -> str:
    template = bot.config.community.announcements.level_up_template
    pathway = f" in {pathway_name(bot, change.board)}" if change.board else ""
    titles = bot.config.community.xp.rank_titles
    return template.format(
        member=member.mention,
        level=change.level_after,
        pathway=pathway,
        rank=change.rank or rank_title(change.level_after, titles),
    )


def record_level_ups(bot: ConclaveBot, changes: Sequence[BoardChange], *, action: str | None = None) -> None:
    """A level_up analytics row per level gained (call once the change is committed)."""
    for change in changes:
        if change.level_after > change.level_before:
            bot.analytics.record(
                "level_up",
                user_id=change.user_id,
                category="xp",
                action=action,
                value=change.level_after,
                pathway=change.board or None,
            )


async def apply_level_up_effects(
    conn: asyncpg.Connection, ctx: LevelUpContext, level_ups: Sequence[BoardChange]
) -> int:
    """Write the effects of these level-ups; returns how many outbox items were queued."""
    queued = 0
    for change in level_ups:
        member = ctx.members.get(change.user_id)
        if member is None:
            continue
        queued += await _notify_and_announce(conn, ctx, member, change)
        queued += await sync_reward_roles(
            conn, ctx.bot, member, change.board, change.level_after, f"level {change.level_after}"
        )
        if change.board and change.rank:
            queued += await sync_rank_role(conn, ctx.bot, member, change.board, change.rank)
    return queued


async def _notify_and_announce(
    conn: asyncpg.Connection, ctx: LevelUpContext, member: discord.Member, change: BoardChange
) -> int:
    bot = ctx.bot
    where = f" in {pathway_name(bot, change.board)}" if change.board else ""
    await notifications.notify(
        conn,
        change.user_id,
        f"Level {change.level_after}{where}!",
        f"You reached level {change.level_after}{where}." + (f" Rank: {change.rank}." if change.rank else ""),
        type=change.board or "success",
        metadata={"source": "xp", "level": change.level_after, "pathway": change.board or None},
    )
    config = bot.config.community.announcements
    mode = config.level_up
    if mode == "off":
        return 0
    text = announcement_text(bot, member, change)
    key = f"levelup:{change.user_id}:{change.board or 'global'}:{change.level_after}"
    if mode == "dm":
        return await _enqueue(conn, "dm", {"user_id": str(member.id), "content": text}, key)
    channel_id = ctx.channels.get(change.user_id) if mode == "same" else None
    channel_id = channel_id or config.level_up_channel_id or config.general_channel_id
    if channel_id is None:
        return 0
    return await _enqueue(conn, "channel_message", {"channel_id": str(channel_id), "content": text}, key)


async def _enqueue(conn: asyncpg.Connection, kind: str, payload: dict, key: str) -> int:
    return 1 if await outbox.enqueue(conn, kind, payload, dedupe_key=key) is not None else 0


def _role_change(bot: ConclaveBot, member: discord.Member, role_id: int, *, add: bool, why: str) -> tuple[str, dict]:
    return (
        "add_role" if add else "remove_role",
        {"guild_id": str(bot.guild_id), "user_id": str(member.id), "role_id": str(role_id), "reason": why},
    )


async def sync_reward_roles(
    conn: asyncpg.Connection, bot: ConclaveBot, member: discord.Member, board: str, level: int, why: str
) -> int:
    xp = bot.config.community.xp
    keep, drop = reward_roles_for(xp.role_rewards, level, board or None, xp.reward_mode)
    return await _apply_roles(conn, bot, member, keep, drop, f"reward for {why}", f"reward:{board or 'global'}:{level}")


async def sync_rank_role(
    conn: asyncpg.Connection, bot: ConclaveBot, member: discord.Member, pathway: str, rank: str
) -> int:
    config = bot.config.community.pathway(pathway)
    if config is None or not config.rank_role_ids:
        return 0
    current, others = rank_role_for(config.rank_role_ids, rank)
    keep = {current} if current else set()
    return await _apply_roles(conn, bot, member, keep, others, f"{config.name} rank {rank}", f"rank:{pathway}:{rank}")


async def _apply_roles(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    member: discord.Member,
    keep: set[int],
    drop: set[int],
    why: str,
    key: str,
) -> int:
    held = {r.id for r in member.roles}
    queued = 0
    for role_id in sorted(keep - held):
        kind, payload = _role_change(bot, member, role_id, add=True, why=why)
        queued += await _enqueue(conn, kind, payload, f"{key}:{member.id}:+{role_id}")
    for role_id in sorted(drop & held):
        kind, payload = _role_change(bot, member, role_id, add=False, why=why)
        queued += await _enqueue(conn, kind, payload, f"{key}:{member.id}:-{role_id}")
    return queued


async def restore_earned_roles(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    member: discord.Member,
    levels: dict[str, int],
    ranks: dict[str, str],
    joined: set[str],
) -> int:
    """A returning member gets back the roles their levels, ranks and pathways earned, except the
    configured exclusions."""
    community = bot.config.community
    excluded = set(community.xp.rejoin_exclude_role_ids)
    wanted: set[int] = set()
    for board, level in levels.items():
        keep, _ = reward_roles_for(community.xp.role_rewards, level, board or None, community.xp.reward_mode)
        wanted |= keep
    for pathway_id, rank in ranks.items():
        config = community.pathway(pathway_id)
        if config and rank in config.rank_role_ids:
            wanted.add(config.rank_role_ids[rank])
    for pathway_id in joined:
        config = community.pathway(pathway_id)
        if config and config.role_id:
            wanted.add(config.role_id)
    wanted -= excluded
    stamp = int(member.joined_at.timestamp()) if member.joined_at else 0
    return await _apply_roles(conn, bot, member, wanted, set(), "welcome back: roles you had earned", f"rejoin:{stamp}")

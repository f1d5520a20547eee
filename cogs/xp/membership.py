"""Pathway membership kept in step both ways: /pathway join|leave gives or takes the pathway's role
(through the outbox), and gaining or losing the role joins or leaves the pathway."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from db import outbox, pathways

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from cogs.xp.engine import XPEngine

log = logging.getLogger(__name__)


def _role_payload(bot: ConclaveBot, member: discord.Member, role_id: int, why: str) -> dict:
    return {"guild_id": str(bot.guild_id), "user_id": str(member.id), "role_id": str(role_id), "reason": why}


async def join(bot: ConclaveBot, engine: XPEngine, member: discord.Member, pathway: str, *, by_role: bool) -> bool:
    """Join `pathway`; unless the member got there by taking the role, the role is granted too."""
    config = bot.config.community.pathway(pathway)
    assert config is not None
    user_id = await bot.identity.user_id(member)
    queued = False
    async with bot.pool.acquire() as conn, conn.transaction():
        joined = await pathways.join_pathway(conn, user_id, pathway)
        if joined and not by_role and config.role_id and member.get_role(config.role_id) is None:
            payload = _role_payload(bot, member, config.role_id, f"joined the {config.name} pathway")
            queued = await outbox.enqueue(conn, "add_role", payload) is not None
    # In the pathway either way (joined already: another process recorded it, at a handover)
    engine.joined.setdefault(member.id, set()).add(pathway)  # (join_pathway wrote its analytics row)
    if queued:
        bot.outbox.wake()
    return joined


async def leave(bot: ConclaveBot, engine: XPEngine, member: discord.Member, pathway: str, *, by_role: bool) -> bool:
    config = bot.config.community.pathway(pathway)
    assert config is not None
    user_id = await bot.identity.user_id(member)
    queued = False
    async with bot.pool.acquire() as conn, conn.transaction():
        left = await pathways.leave_pathway(conn, user_id, pathway)
        if left and not by_role and config.role_id and member.get_role(config.role_id) is not None:
            payload = _role_payload(bot, member, config.role_id, f"left the {config.name} pathway")
            queued = await outbox.enqueue(conn, "remove_role", payload) is not None
    engine.joined.get(member.id, set()).discard(pathway)  # out of it either way
    if left:
        bot.analytics.record("pathway_leave", user_id=user_id, category="pathways", pathway=pathway)
    if queued:
        bot.outbox.wake()
    return left


def pathway_roles(bot: ConclaveBot) -> dict[int, str]:
    return {p.role_id: p.id for p in bot.config.community.pathways if p.role_id}


async def follow_role_change(bot: ConclaveBot, engine: XPEngine, before: discord.Member, after: discord.Member) -> None:
    """A pathway role gained or lost in Discord joins or leaves the pathway."""
    roles = pathway_roles(bot)
    had = {r.id for r in before.roles}
    has = {r.id for r in after.roles}
    for role_id in has - had:
        if role_id in roles and roles[role_id] not in engine.joined.get(after.id, set()):
            await join(bot, engine, after, roles[role_id], by_role=True)
    for role_id in had - has:
        if role_id in roles and roles[role_id] in engine.joined.get(after.id, set()):
            await leave(bot, engine, after, roles[role_id], by_role=True)


async def reconcile(bot: ConclaveBot, engine: XPEngine, guild: discord.Guild) -> None:
    """At start-up: role holders who had not joined are joined; joined members without the role get it."""
    roles = pathway_roles(bot)
    if not roles:
        return
    for member in guild.members:
        if member.bot:
            continue
        held = {roles[r.id] for r in member.roles if r.id in roles}
        joined = engine.joined.get(member.id, set())
        for pathway in held - joined:
            await join(bot, engine, member, pathway, by_role=True)
        for pathway in joined - held:
            config = bot.config.community.pathway(pathway)
            if config and config.role_id:
                async with bot.pool.acquire() as conn:
                    payload = _role_payload(bot, member, config.role_id, f"member of the {config.name} pathway")
                    since = int(member.joined_at.timestamp()) if member.joined_at else 0
                    key = f"pathway-role:{member.id}:{pathway}:{since}"
                    await outbox.enqueue(conn, "add_role", payload, dedupe_key=key)
    bot.outbox.wake()

"""XP granted by other features (achievements, events) through the same ledger as chat: the grants
and their level-up effects in the caller's transaction (once it is committed, the XP door's
`after_grants` moves the rank index and tells the features that follow members' stats).

XP in a pathway goes to members of that pathway only (as chat and voice XP do): a grant with a
pathway to someone who has not joined it counts globally, without the pathway."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.rules.xp import local_day, period_starts
from cogs.xp.levelups import LevelUpContext, apply_level_up_effects
from db import ledger, pathways

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


def grants_for(
    bot: ConclaveBot, user_ids: list[str], source: str, refs: dict[str, str], pathway: str | None, amount: int
) -> list[ledger.Grant]:
    """One grant per member, now, in the community's week and month."""
    now = datetime.now(UTC)
    tz = bot.config.community.xp.timezone
    week, month = period_starts(now, tz)
    day = local_day(now, tz)
    return [ledger.Grant(u, source, refs[u], pathway, amount, now, day, week, month) for u in user_ids]


async def grant_in(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    grants: list[ledger.Grant],
    members: dict[str, discord.Member],
    *,
    reason: str,
    actor_id: str | None = None,
) -> tuple[ledger.GrantResult, int]:
    """Record the grants (a source grants once per member) and queue their level-up effects."""
    grants = await members_only_in_pathways(conn, grants)
    result = await ledger.apply_grants(conn, grants, reasons=[reason] * len(grants), actor_id=actor_id)
    queued = await apply_level_up_effects(conn, LevelUpContext(bot, members, {}), result.level_ups)
    return result, queued


async def members_only_in_pathways(conn: asyncpg.Connection, grants: list[ledger.Grant]) -> list[ledger.Grant]:
    """The grants, with the pathway taken off those to members who have not joined it."""
    by_pathway: dict[str, list[str]] = {}
    for grant in grants:
        if grant.pathway is not None:
            by_pathway.setdefault(grant.pathway, []).append(grant.user_id)
    if not by_pathway:
        return grants
    members = {p: await pathways.joined(conn, user_ids, p) for p, user_ids in by_pathway.items()}
    return [
        g if g.pathway is None or g.user_id in members[g.pathway] else dataclasses.replace(g, pathway=None)
        for g in grants
    ]


def members_of(bot: ConclaveBot, discord_ids: dict[str, str]) -> dict[str, discord.Member]:
    """users.id -> the guild member, for those still in the server."""
    guild = bot.home_guild
    found = {}
    for user_id, discord_id in discord_ids.items():
        member = guild.get_member(int(discord_id)) if guild is not None else None
        if member is not None:
            found[user_id] = member
    return found

"""The stand-in's bans, as Discord keeps them: bans by the bot (REST) and by hand (a moderator in
Discord's own menus), each dispatched as GUILD_BAN_ADD / GUILD_BAN_REMOVE and written to the audit
log with who did it; timeouts by hand (timeouts.py keeps them); the ban list and the audit-log routes
with their permission checks."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

from standin import state as s
from standin import timeouts
from standin.audit import MEMBER_BAN_ADD, MEMBER_BAN_REMOVE, record_audit
from standin.records import Output
from standin.rest import UNKNOWN_BAN, UNKNOWN_USER, DiscordError, fail, reply, standin_of
from standin.rest_guild import _guild, _reason, _require

if TYPE_CHECKING:
    from standin.guild import Guild
    from standin.server import StandIn

AUDIT_LOG_LIMIT = (1, 100, 50)  # Get Guild Audit Log's limit: min, max, default
BANS_LIMIT = (1, 1000, 1000)  # Get Guild Bans' limit


class HandRefused(PermissionError):
    """What Discord's own menus would not let that moderator do."""


# -- what happens, whoever does it --------------------------------------------------------------


def apply_ban(standin: StandIn, user: s.User, *, by: str, reason: str | None) -> None:
    guild = standin.guild
    guild.bans[user.id] = reason
    record_audit(standin, by, user.id, MEMBER_BAN_ADD, reason)
    standin.gateway.dispatch("GUILD_BAN_ADD", {"guild_id": guild.id, "user": user.payload()})
    if user.id in guild.members:
        standin.remove_member(user.id)


def apply_unban(standin: StandIn, user: s.User, *, by: str, reason: str | None) -> None:
    guild = standin.guild
    del guild.bans[user.id]
    record_audit(standin, by, user.id, MEMBER_BAN_REMOVE, reason)
    standin.gateway.dispatch("GUILD_BAN_REMOVE", {"guild_id": guild.id, "user": user.payload()})


def _may(guild: Guild, actor: s.Member, permission: int, target: s.Member | None) -> bool:
    """Discord's rule for a moderator: the permission, and a top role above the target's (the owner
    is above everyone and can be touched by nobody)."""
    if not guild.permissions_of(actor) & permission:
        return False
    if target is None:
        return True
    if target.user.id == guild.owner_id or target.user.id == actor.user.id:
        return False
    return guild.top_position(actor) > guild.top_position(target)


def ban_by_hand(standin: StandIn, actor: s.Member, user: s.User, reason: str | None = None) -> None:
    """A moderator bans someone from Discord's own menus (not through the bot)."""
    guild = standin.guild
    if not _may(guild, actor, s.BAN_MEMBERS, guild.members.get(user.id)):
        raise HandRefused(f"{actor.user.username} may not ban {user.username} in Discord")
    if user.id in guild.bans:
        raise HandRefused(f"{user.username} is banned already")
    apply_ban(standin, user, by=actor.user.id, reason=reason)


def unban_by_hand(standin: StandIn, actor: s.Member, user: s.User, reason: str | None = None) -> None:
    """A moderator lifts a ban from the server's ban list in Discord."""
    if not _may(standin.guild, actor, s.BAN_MEMBERS, None):
        raise HandRefused(f"{actor.user.username} may not unban in Discord")
    if user.id not in standin.guild.bans:
        raise HandRefused(f"{user.username} is not banned")
    apply_unban(standin, user, by=actor.user.id, reason=reason)


def timeout_by_hand(
    standin: StandIn, actor: s.Member, target: s.Member, until: datetime | None, reason: str | None = None
) -> None:
    """A moderator times a member out (or removes it, `until` None) from Discord's own menus: Timeout
    Members and a higher role; never an administrator; at most 28 days ahead."""
    guild = standin.guild
    if not _may(guild, actor, s.MODERATE_MEMBERS, target) or guild.permissions_of(target) & s.ADMINISTRATOR:
        raise HandRefused(f"{actor.user.username} may not time out {target.user.username} in Discord")
    timeouts.parse_until(s.iso(until))  # Discord's menus offer no longer timeout than its API takes
    timeouts.apply_timeout(standin, target, until, by=actor.user.id, reason=reason)
    standin.member_updated(target)


# -- routes ---------------------------------------------------------------------------------


def _int_query(request: web.Request, name: str, bounds: tuple[int, int, int]) -> int:
    low, high, default = bounds
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DiscordError(400, 50035, f"Invalid Form Body ({name}: value is not int)") from None
    if not low <= value <= high:
        raise DiscordError(400, 50035, f"Invalid Form Body ({name}: must be between {low} and {high})")
    return value


def _snowflake_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise DiscordError(400, 50035, f"Invalid Form Body ({name}: value is not snowflake)")
    return int(raw)


async def ban(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild = _guild(request)
    user = standin.users.get(request.match_info["user_id"])
    if user is None:
        raise fail(UNKNOWN_USER)
    _require(standin, s.BAN_MEMBERS, guild.members.get(user.id))
    reason = _reason(request)
    if user.id not in guild.bans:  # banning the banned again changes nothing (and sends no event)
        apply_ban(standin, user, by=standin.bot_user.id, reason=reason)
    standin.emit(Output("ban", data={"user_id": user.id, "reason": reason}))
    return reply(None, 204)


async def unban(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild = _guild(request)
    user_id = request.match_info["user_id"]
    _require(standin, s.BAN_MEMBERS)
    if user_id not in guild.bans:
        raise fail(UNKNOWN_BAN)
    reason = _reason(request)
    apply_unban(standin, standin.users[user_id], by=standin.bot_user.id, reason=reason)
    standin.emit(Output("unban", data={"user_id": user_id, "reason": reason}))
    return reply(None, 204)


async def get_ban(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild = _guild(request)
    _require(standin, s.BAN_MEMBERS)
    user_id = request.match_info["user_id"]
    if user_id not in guild.bans:
        raise fail(UNKNOWN_BAN)
    return reply({"reason": guild.bans[user_id], "user": standin.users[user_id].payload()})


async def list_bans(request: web.Request) -> web.Response:
    """GET /guilds/{id}/bans: ascending by user id, `before` / `after` a user id, 1-1000 a page."""
    standin = standin_of(request)
    guild = _guild(request)
    _require(standin, s.BAN_MEMBERS)
    limit = _int_query(request, "limit", BANS_LIMIT)
    before, after = _snowflake_query(request, "before"), _snowflake_query(request, "after")
    ids = sorted((int(i) for i in guild.bans), reverse=before is not None and after is None)
    if after is not None:
        ids = [i for i in ids if i > after]
    if before is not None:
        ids = [i for i in ids if i < before]
    page = sorted(ids[:limit])
    return reply([{"reason": guild.bans[str(i)], "user": standin.users[str(i)].payload()} for i in page])


async def audit_logs(request: web.Request) -> web.Response:
    """GET /guilds/{id}/audit-logs: View Audit Log needed; newest first (oldest first after `after`),
    filtered by `user_id` (who acted) and `action_type`, 1-100 a page."""
    standin = standin_of(request)
    guild = _guild(request)
    _require(standin, s.VIEW_AUDIT_LOG)
    limit = _int_query(request, "limit", AUDIT_LOG_LIMIT)
    before, after = _snowflake_query(request, "before"), _snowflake_query(request, "after")
    actor = _snowflake_query(request, "user_id")
    kind = request.query.get("action_type")
    entries = [
        e
        for e in guild.audit_log
        if (actor is None or e.user_id == str(actor))
        and (kind is None or str(e.action_type) == kind)
        and (before is None or int(e.id) < before)
        and (after is None or int(e.id) > after)
    ]
    entries.sort(key=lambda e: int(e.id), reverse=after is None)
    entries = entries[:limit]
    involved = {i for e in entries for i in (e.user_id, e.target_id) if i is not None and i in standin.users}
    return reply(
        {
            "audit_log_entries": [e.payload() for e in entries],
            "users": [standin.users[i].payload() for i in sorted(involved)],
            "integrations": [],
            "webhooks": [],
            "guild_scheduled_events": [],
            "threads": [],
            "application_commands": [],
            "auto_moderation_rules": [],
        }
    )

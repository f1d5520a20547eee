"""The stand-in's guild routes: the guild, its roles and channels, members (edits, roles, timeouts,
kicks) and scheduled events, with Discord's permission and role-hierarchy checks (bans: bans.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from standin import state as s
from standin import timeouts
from standin.guild import Guild
from standin.limits import check_scheduled_event
from standin.records import Output
from standin.rest import (
    MISSING_PERMISSIONS,
    UNKNOWN_EVENT,
    UNKNOWN_MEMBER,
    UNKNOWN_ROLE,
    DiscordError,
    fail,
    read_body,
    reply,
    standin_of,
)

if TYPE_CHECKING:
    from standin.server import StandIn


# -- guild, members, roles ------------------------------------------------------------------


def _guild(request: web.Request) -> Guild:
    standin = standin_of(request)
    if request.match_info["guild_id"] != standin.guild.id:
        raise DiscordError(404, 10004, "Unknown Guild")
    return standin.guild


def _member(guild: Guild, user_id: str) -> s.Member:
    member = guild.members.get(user_id)
    if member is None:
        raise fail(UNKNOWN_MEMBER)
    return member


def _require(standin: StandIn, permission: int, target: s.Member | None = None, role_position: int = -1) -> None:
    """Discord's checks: the bot needs the permission, and its top role must be above the target's
    top role (and above any role it hands out). The owner cannot be touched."""
    guild = standin.guild
    me = guild.members[standin.bot_user.id]
    if not guild.permissions_of(me) & permission:
        raise fail(MISSING_PERMISSIONS)
    mine = guild.top_position(me)
    if target is not None and (target.user.id == guild.owner_id or guild.top_position(target) >= mine):
        raise fail(MISSING_PERMISSIONS)
    if role_position >= mine:
        raise fail(MISSING_PERMISSIONS)


async def get_guild(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild = _guild(request)
    data = guild.create_payload(standin.base_url, joined_at=standin.bot_joined_at)
    for key in (
        "members",
        "channels",
        "threads",
        "voice_states",
        "presences",
        "joined_at",
        "large",
        "member_count",
    ):
        data.pop(key, None)
    data["approximate_member_count"] = len(guild.members)
    return reply(data)


async def get_roles(request: web.Request) -> web.Response:
    return reply([r.payload() for r in _guild(request).roles.values()])


async def get_channels(request: web.Request) -> web.Response:
    guild = _guild(request)
    return reply([c.payload(guild.id) for c in guild.channels.values()])


async def get_member(request: web.Request) -> web.Response:
    guild = _guild(request)
    return reply(_member(guild, request.match_info["user_id"]).payload())


async def list_members(request: web.Request) -> web.Response:
    guild = _guild(request)
    limit = int(request.query.get("limit", "1"))
    after = int(request.query.get("after", "0"))
    members = sorted(guild.members.values(), key=lambda m: int(m.user.id))
    return reply([m.payload() for m in members if int(m.user.id) > after][:limit])


async def edit_member(request: web.Request) -> web.Response:

    standin = standin_of(request)
    guild = _guild(request)
    member = _member(guild, request.match_info["user_id"])
    body, _ = await read_body(request)
    changes: dict[str, Any] = {}
    if "roles" in body:
        wanted = [str(r) for r in body["roles"]]
        changed = set(wanted) ^ set(member.roles)
        for role_id in changed:
            if role_id not in guild.roles:
                raise fail(UNKNOWN_ROLE)
            _require(standin, s.MANAGE_ROLES, role_position=guild.roles[role_id].position)
        changes["roles"] = {
            "added": sorted(set(wanted) - set(member.roles)),
            "removed": sorted(set(member.roles) - set(wanted)),
        }
        member.roles = wanted
    if "nick" in body:
        _require(standin, s.MANAGE_NICKNAMES, member)
        member.nick = body["nick"]
        changes["nick"] = body["nick"]
    if "communication_disabled_until" in body:
        _require(standin, s.MODERATE_MEMBERS, member)
        if guild.permissions_of(member) & s.ADMINISTRATOR:
            raise fail(MISSING_PERMISSIONS)
        until = timeouts.parse_until(body["communication_disabled_until"])
        timeouts.apply_timeout(standin, member, until, by=standin.bot_user.id, reason=_reason(request))
        changes["timeout_until"] = body["communication_disabled_until"]
    for key in ("mute", "deaf"):
        if key in body:
            _require(standin, s.MUTE_MEMBERS, member)
            setattr(member, key, bool(body[key]))
            changes[key] = bool(body[key])
    if "channel_id" in body and body["channel_id"] is None:
        standin.set_voice_state(member.user.id, None)
        changes["voice"] = "disconnected"
    standin.member_updated(member)
    standin.emit(
        Output("member_update", data={"user_id": member.user.id, "changes": changes, "reason": _reason(request)})
    )
    return reply(member.payload())


async def add_member_role(request: web.Request) -> web.Response:
    return await _change_role(request, add=True)


async def remove_member_role(request: web.Request) -> web.Response:
    return await _change_role(request, add=False)


async def _change_role(request: web.Request, *, add: bool) -> web.Response:

    standin = standin_of(request)
    guild = _guild(request)
    member = _member(guild, request.match_info["user_id"])
    role = guild.roles.get(request.match_info["role_id"])
    if role is None:
        raise fail(UNKNOWN_ROLE)
    _require(standin, s.MANAGE_ROLES, role_position=role.position)
    if add and role.id not in member.roles:
        member.roles.append(role.id)
    elif not add and role.id in member.roles:
        member.roles.remove(role.id)
    standin.member_updated(member)
    kind = "role_add" if add else "role_remove"
    standin.emit(
        Output(
            kind,
            data={
                "user_id": member.user.id,
                "role_id": role.id,
                "role": role.name,
                "reason": _reason(request),
            },
        )
    )
    return reply(None, 204)


async def kick(request: web.Request) -> web.Response:

    standin = standin_of(request)
    guild = _guild(request)
    member = _member(guild, request.match_info["user_id"])
    _require(standin, s.KICK_MEMBERS, member)
    standin.remove_member(member.user.id)
    standin.emit(Output("kick", data={"user_id": member.user.id, "reason": _reason(request)}))
    return reply(None, 204)


def _reason(request: web.Request) -> str | None:
    reason = request.headers.get("X-Audit-Log-Reason")
    return unquote(reason) if reason else None


# -- scheduled events -------------------------------------------------------------------------


async def list_events(request: web.Request) -> web.Response:
    guild = _guild(request)
    return reply([e.payload(guild.id) for e in guild.scheduled_events.values()])


async def create_event(request: web.Request) -> web.Response:

    standin = standin_of(request)
    guild = _guild(request)
    _require(standin, s.MANAGE_EVENTS)
    body, _ = await read_body(request)
    _check_event_body(body, creating=True)
    event = s.ScheduledEvent(
        id=standin.ids.next(),
        name=body["name"],
        description=body.get("description"),
        scheduled_start_time=datetime.fromisoformat(body["scheduled_start_time"]),
        scheduled_end_time=datetime.fromisoformat(body["scheduled_end_time"])
        if body.get("scheduled_end_time")
        else None,
        entity_type=int(body.get("entity_type", 2)),
        channel_id=str(body["channel_id"]) if body.get("channel_id") is not None else None,  # snowflakes as strings
        location=(body.get("entity_metadata") or {}).get("location"),
        creator_id=standin.bot_user.id,
    )
    guild.scheduled_events[event.id] = event
    standin.gateway.dispatch("GUILD_SCHEDULED_EVENT_CREATE", event.payload(guild.id))
    standin.emit(Output("scheduled_event", data=event.payload(guild.id)))
    return reply(event.payload(guild.id))


def _check_event_body(body: dict[str, Any], *, creating: bool) -> None:
    """Discord's form checks: a start in the future, an end after it, an external event's location
    and end, a voice event's channel; its name, description and location within Discord's limits."""
    check_scheduled_event(body, creating=creating)
    start = body.get("scheduled_start_time")
    end = body.get("scheduled_end_time")
    if creating and (not body.get("name") or not start):
        raise DiscordError(400, 50035, "Invalid Form Body")
    if start and creating and datetime.fromisoformat(start) <= s.now():
        raise DiscordError(400, 50035, "Invalid Form Body (scheduled_start_time: must be in the future)")
    if start and end and datetime.fromisoformat(end) <= datetime.fromisoformat(start):
        raise DiscordError(400, 50035, "Invalid Form Body (scheduled_end_time: must be after the start)")
    kind = int(body.get("entity_type", 0) or 0)
    if creating and kind == 3 and (not (body.get("entity_metadata") or {}).get("location") or not end):
        raise DiscordError(400, 50035, "Invalid Form Body (external events need a location and an end)")
    if creating and kind in (1, 2) and not body.get("channel_id"):
        raise DiscordError(400, 50035, "Invalid Form Body (channel_id required)")


def _event(guild: Guild, event_id: str) -> s.ScheduledEvent:
    event = guild.scheduled_events.get(event_id)
    if event is None:
        raise fail(UNKNOWN_EVENT)
    return event


async def get_event(request: web.Request) -> web.Response:
    guild = _guild(request)
    return reply(_event(guild, request.match_info["event_id"]).payload(guild.id))


async def edit_event(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild = _guild(request)
    _require(standin, s.MANAGE_EVENTS)
    event = _event(guild, request.match_info["event_id"])
    body, _ = await read_body(request)
    _check_event_body(body, creating=False)
    if "status" in body and body["status"] != event.status:
        # Discord's transitions: scheduled -> active or canceled, active -> completed; a finished
        # event cannot change any more.
        allowed = {1: {2, 4}, 2: {3}}.get(event.status, set())
        if int(body["status"]) not in allowed:
            raise DiscordError(
                400, 180000, "Cannot update a finished event" if event.status in (3, 4) else "Invalid status transition"
            )
    elif event.status in (3, 4):
        raise DiscordError(400, 180000, "Cannot update a finished event")
    for key in ("name", "description", "status"):
        if key in body:
            setattr(event, key, body[key])
    if "channel_id" in body:
        event.channel_id = str(body["channel_id"]) if body["channel_id"] is not None else None
    for key in ("scheduled_start_time", "scheduled_end_time"):
        if body.get(key):
            setattr(event, key, datetime.fromisoformat(body[key]))
    standin.gateway.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event.payload(guild.id))
    return reply(event.payload(guild.id))


async def delete_event(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild = _guild(request)
    _require(standin, s.MANAGE_EVENTS)
    event = guild.scheduled_events.pop(request.match_info["event_id"], None)
    if event is None:
        raise fail(UNKNOWN_EVENT)
    standin.gateway.dispatch("GUILD_SCHEDULED_EVENT_DELETE", event.payload(guild.id))
    return reply(None, 204)

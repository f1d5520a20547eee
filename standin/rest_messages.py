"""The stand-in's message routes, as Discord answers them: send (to channels and DMs, which need a
shared server; within Discord's limits on content, embeds and components), fetch, edit (the bot's
own messages, through their own channel, never left empty), delete
(others' messages need Manage Messages), history with before/after/limit, bulk delete (2-100
distinct ids, none older than 14 days), typing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from standin import limits
from standin import state as s
from standin.records import Output
from standin.rest import (
    BULK_DELETE_WINDOW_MS,
    CANNOT_DM,
    MISSING_PERMISSIONS,
    TOO_OLD_TO_BULK_DELETE,
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    DiscordError,
    fail,
    read_body,
    reply,
    standin_of,
)

if TYPE_CHECKING:
    from standin.server import StandIn


def message_from_body(
    standin: StandIn, channel: s.Channel, body: dict[str, Any], files: list[s.Attachment]
) -> s.Message:
    in_guild = channel.type != s.DM
    return s.Message(
        id=standin.ids.next(),
        channel_id=channel.id,
        author=standin.bot_user,
        content=body.get("content") or "",
        embeds=body.get("embeds") or [],
        components=body.get("components") or [],
        attachments=files,
        flags=int(body.get("flags") or 0),
        guild_id=standin.guild.id if in_guild else None,
        member=standin.guild.members.get(standin.bot_user.id) if in_guild else None,
    )


async def post_message(request: web.Request) -> web.Response:

    standin = standin_of(request)
    channel = standin.channel(request.match_info["channel_id"])
    if channel is None:
        raise fail(UNKNOWN_CHANNEL)
    body, files = await read_body(request, channel)
    limits.check_message(body)
    if not (body.get("content") or body.get("embeds") or files or body.get("components")):
        raise DiscordError(400, 50006, "Cannot send an empty message")
    if channel.type == s.DM:
        recipient = standin.users[channel.recipient_id or ""]
        # Discord lets a bot message a user only while they share a server (and their DMs are open).
        if not recipient.dms_open or recipient.id not in standin.guild.members:
            raise fail(CANNOT_DM)
    message = standin.post_message(message_from_body(standin, channel, body, files))
    kind = "dm" if channel.type == s.DM else "message"
    standin.emit(Output(kind, message=message, data={"recipient_id": channel.recipient_id}))
    return reply(message.payload(standin.base_url))


async def get_message(request: web.Request) -> web.Response:
    standin = standin_of(request)
    message = standin.messages.get(request.match_info["message_id"])
    if message is None or message.deleted or message.channel_id != request.match_info["channel_id"]:
        raise fail(UNKNOWN_MESSAGE)
    return reply(message.payload(standin.base_url))


async def edit_message(request: web.Request) -> web.Response:

    standin = standin_of(request)
    channel = standin.channel(request.match_info["channel_id"])
    if channel is None:
        raise fail(UNKNOWN_CHANNEL)
    message = standin.messages.get(request.match_info["message_id"])
    if message is None or message.deleted or message.channel_id != channel.id:
        raise fail(UNKNOWN_MESSAGE)
    if message.author.id != standin.bot_user.id:
        raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
    body, files = await read_body(request, channel)
    limits.check_message(body)
    if not _leaves_something(message, body, files):
        raise DiscordError(400, 50006, "Cannot send an empty message")
    apply_edit(message, body, files)
    standin.gateway.dispatch("MESSAGE_UPDATE", message.payload(standin.base_url))
    standin.emit(Output("edit", message=message))
    return reply(message.payload(standin.base_url))


def _leaves_something(message: s.Message, body: dict[str, Any], files: list[s.Attachment]) -> bool:
    """Discord refuses an edit after which the message would show nothing (a field left out of the
    edit keeps its value; an empty one clears it)."""

    def after(key: str, current: Any) -> Any:
        return body[key] if body.get(key) is not None else current  # as apply_edit applies it

    kept = message.attachments
    if "attachments" in body:
        ids = {str(a.get("id")) for a in body.get("attachments") or []}
        kept = [a for a in message.attachments if a.id in ids]
    return bool(
        after("content", message.content)
        or after("embeds", message.embeds)
        or after("components", message.components)
        or kept
        or files
    )


def apply_edit(message: s.Message, body: dict[str, Any], files: list[s.Attachment]) -> None:
    for key in ("content", "embeds", "components"):
        if key in body and body[key] is not None:
            setattr(message, key, body[key])
    if "attachments" in body:
        keep = {str(a.get("id")) for a in body.get("attachments") or []}
        message.attachments = [a for a in message.attachments if a.id in keep]
    message.attachments.extend(files)
    message.flags &= ~(1 << 7)  # LOADING
    message.edited_timestamp = s.now()


async def delete_message(request: web.Request) -> web.Response:
    standin = standin_of(request)
    message = standin.messages.get(request.match_info["message_id"])
    if message is None or message.deleted or message.channel_id != request.match_info["channel_id"]:
        raise fail(UNKNOWN_MESSAGE)
    if message.author.id != standin.bot_user.id and message.guild_id is not None:
        _require_in_guild(standin, s.MANAGE_MESSAGES)
    message.deleted = True
    standin.gateway.dispatch(
        "MESSAGE_DELETE", {"id": message.id, "channel_id": message.channel_id, "guild_id": message.guild_id}
    )
    standin.emit(Output("delete", message=message))
    return reply(None, 204)


def _require_in_guild(standin: StandIn, permission: int) -> None:
    me = standin.guild.members[standin.bot_user.id]
    if not standin.guild.permissions_of(me) & permission:
        raise fail(MISSING_PERMISSIONS)


async def list_messages(request: web.Request) -> web.Response:
    """A channel's messages, newest first, as Discord pages them (limit 1-100, before/after ids)."""
    standin = standin_of(request)
    channel = standin.channel(request.match_info["channel_id"])
    if channel is None:
        raise fail(UNKNOWN_CHANNEL)
    if channel.type != s.DM:
        _require_in_guild(standin, s.VIEW_CHANNEL | s.READ_MESSAGE_HISTORY)
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise DiscordError(400, 50035, "Invalid Form Body") from None
    if not 1 <= limit <= 100:
        raise DiscordError(400, 50035, "Invalid Form Body")
    before = int(request.query["before"]) if "before" in request.query else None
    after = int(request.query["after"]) if "after" in request.query else None
    found = [
        m
        for m in standin.messages.values()
        if m.channel_id == channel.id
        and not m.deleted
        and (before is None or int(m.id) < before)
        and (after is None or int(m.id) > after)
    ]
    found.sort(key=lambda m: int(m.id), reverse=after is None)
    page = found[:limit]
    if after is not None:
        page.reverse()  # Discord answers newest first either way
    return reply([m.payload(standin.base_url) for m in page])


async def bulk_delete(request: web.Request) -> web.Response:
    """Discord's bulk delete: 2-100 distinct messages of the channel, none older than 14 days."""
    standin = standin_of(request)
    channel = standin.channel(request.match_info["channel_id"])
    if channel is None or channel.type == s.DM:
        raise fail(UNKNOWN_CHANNEL)
    _require_in_guild(standin, s.MANAGE_MESSAGES)
    body, _ = await read_body(request)
    ids = [str(i) for i in body.get("messages") or []]
    if not 2 <= len(ids) <= 100 or len(set(ids)) != len(ids):
        raise DiscordError(400, 50035, "Invalid Form Body")
    oldest = int(time.time() * 1000) - BULK_DELETE_WINDOW_MS - s.DISCORD_EPOCH_MS
    if any((int(i) >> 22) < oldest for i in ids):
        raise fail(TOO_OLD_TO_BULK_DELETE)
    deleted = []
    for message_id in ids:
        message = standin.messages.get(message_id)
        if message is not None and not message.deleted and message.channel_id == channel.id:
            message.deleted = True
            deleted.append(message_id)
            standin.emit(Output("delete", message=message))
    standin.gateway.dispatch(
        "MESSAGE_DELETE_BULK", {"ids": deleted, "channel_id": channel.id, "guild_id": standin.guild.id}
    )
    return reply(None, 204)


async def typing(request: web.Request) -> web.Response:
    return reply(None, 204)

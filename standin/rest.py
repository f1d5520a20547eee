"""The stand-in's REST API, as Discord answers it: exact `application/json` replies, Discord's error
codes, rate-limit headers with `Via`, bot auth on bot routes, token auth on interaction routes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web
from PIL import Image

from standin import state as s
from standin.limits import InvalidFormBody, check_audit_reason, check_commands
from standin.uploads import UploadRefused, bot_limit, check_request

if TYPE_CHECKING:
    from standin.server import StandIn

log = logging.getLogger(__name__)

API = "/api/v10"
STANDIN_KEY: web.AppKey[StandIn] = web.AppKey("standin")


class DiscordError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MEMBER = (404, 10007, "Unknown Member")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_ROLE = (404, 10011, "Unknown Role")
UNKNOWN_USER = (404, 10013, "Unknown User")
UNKNOWN_BAN = (404, 10026, "Unknown Ban")
UNKNOWN_EVENT = (404, 10070, "Unknown Guild Scheduled Event")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
CANNOT_DM = (403, 50007, "Cannot send messages to this user")
TOO_OLD_TO_BULK_DELETE = (400, 50034, "You can only bulk delete messages that are under 14 days old.")
BULK_DELETE_WINDOW_MS = 14 * 24 * 3600 * 1000


def fail(error: tuple[int, int, str]) -> DiscordError:
    return DiscordError(*error)


def reply(data: Any = None, status: int = 200, *, bucket: str = "standin") -> web.Response:
    headers = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
        "Via": "1.1 google",
    }
    if status == 204 or data is None:
        return web.Response(status=204, headers=headers)
    headers["Content-Type"] = "application/json"  # exactly: discord.py compares the string
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers)


def error_reply(status: int, code: int, message: str, extra: dict[str, Any] | None = None) -> web.Response:
    return reply({"code": code, "message": message, **(extra or {})}, status)


def standin_of(request: web.Request) -> StandIn:
    return request.app[STANDIN_KEY]


def upload_limit(standin: StandIn, channel: s.Channel | None) -> int:
    """The bot's upload limit where it sends: the server's boost tier's, or a DM's."""
    return bot_limit(None if channel is not None and channel.type == s.DM else standin.guild.premium_tier)


async def read_body(
    request: web.Request, channel: s.Channel | None = None
) -> tuple[dict[str, Any], list[s.Attachment]]:
    """JSON body, or multipart `payload_json` + `files[n]` as Discord accepts them: at most 10
    files, together within the upload limit where they are sent (`channel`'s)."""
    body, files = await _read_body(request)
    listed = None
    if isinstance(body, dict):  # a message's own, or an interaction callback's message's
        data = body.get("data")
        listed = body.get("attachments") or (data.get("attachments") if isinstance(data, dict) else None)
    check_request([len(f.data) for f in files], listed, upload_limit(standin_of(request), channel))
    return body, files


async def _read_body(request: web.Request) -> tuple[dict[str, Any], list[s.Attachment]]:
    standin = standin_of(request)
    if request.content_type.startswith("multipart/"):
        payload: dict[str, Any] = {}
        files: list[s.Attachment] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            elif part.name and part.name.startswith("files["):
                data = await part.read(decode=False)
                files.append(
                    s.Attachment(
                        id=standin.ids.next(),
                        filename=part.filename or "file",
                        data=bytes(data),
                        content_type=part.headers.get("Content-Type"),
                    )
                )
        return payload, files
    if request.body_exists:
        text = await request.text()  # cached by aiohttp after the middleware's read
        return (json.loads(text) if text else {}), []
    return {}, []


@web.middleware
async def discord_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    standin = standin_of(request)
    path = request.path.removeprefix(API)
    if request.path == "/gateway" or request.path.startswith(("/attachments/", "/_sandbox/", "/avatars/", "/embed/")):
        return await handler(request)
    body_for_record: Any = None
    if request.body_exists and not request.content_type.startswith("multipart/"):
        raw = await request.text()
        try:
            body_for_record = json.loads(raw) if raw else None
        except ValueError:
            body_for_record = raw
    elif request.content_type.startswith("multipart/"):
        body_for_record = "<multipart>"

    def done(response: web.StreamResponse) -> web.StreamResponse:
        standin.record(request.method, path, body_for_record, response.status)
        return response

    if not request.path.startswith(API):
        return done(error_reply(404, 0, "404: Not Found"))
    token_route = path.startswith(("/interactions/", "/webhooks/"))
    if not token_route and request.headers.get("Authorization") != f"Bot {standin.token}":
        return done(error_reply(401, 0, "401: Unauthorized"))
    failure = standin.take_failure(request.method, path)
    if failure is not None and failure.delay:
        await asyncio.sleep(failure.delay)
    if failure is not None and failure.status:
        response = reply(failure.body, failure.status)
        if failure.status == 429:
            response.headers["Retry-After"] = f"{failure.retry_after or 0.1:.3f}"
            response.headers["X-RateLimit-Remaining"] = "0"
            response.headers["X-RateLimit-Reset-After"] = f"{failure.retry_after or 0.1:.3f}"
            response.headers["X-RateLimit-Scope"] = "user"
        return done(response)
    try:
        reason = request.headers.get("X-Audit-Log-Reason")
        check_audit_reason(unquote(reason) if reason is not None else None)
        response = await handler(request)
    except web.HTTPNotFound:
        response = error_reply(404, 0, "404: Not Found")
    except web.HTTPMethodNotAllowed:
        response = error_reply(405, 0, "405: Method Not Allowed")
    except DiscordError as exc:
        response = error_reply(exc.status, exc.code, exc.message)
    except InvalidFormBody as exc:
        standin.refused(request.method, path, exc.errors)
        response = reply(exc.body(), exc.status)
    except UploadRefused as exc:
        standin.refused(request.method, path, {"_errors": [{"code": exc.code, "message": str(exc)}]})
        response = reply(exc.body(), exc.status)
    except (KeyError, ValueError, TypeError) as exc:
        log.warning("stand-in rejected %s %s: %r", request.method, path, exc)
        response = error_reply(400, 50035, "Invalid Form Body", {"errors": {"_errors": [{"message": str(exc)}]}})
    return done(response)


# -- users, application, gateway ----------------------------------------------------------------


async def get_me(request: web.Request) -> web.Response:
    standin = standin_of(request)
    return reply({**standin.bot_user.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"})


async def get_application(request: web.Request) -> web.Response:
    standin = standin_of(request)
    owner = standin.users[standin.guild.owner_id]
    return reply(
        {
            "id": standin.application_id,
            "name": standin.bot_user.username,
            "icon": None,
            "description": "The Conclave Realm's bot (local stand-in)",
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": owner.payload(),
            "verify_key": "0" * 64,
            "team": None,
            "flags": 0,
            "summary": "",
            "rpc_origins": [],
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "tags": [],
            "install_params": None,
            "custom_install_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": 1,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
        }
    )


async def get_gateway(request: web.Request) -> web.Response:
    standin = standin_of(request)
    data: dict[str, Any] = {"url": standin.gateway_url}
    if request.path.endswith("/bot"):
        data.update(
            shards=1,
            session_start_limit={
                "total": 1000,
                "remaining": 999,
                "reset_after": 14400000,
                "max_concurrency": 1,
            },
        )
    return reply(data)


async def get_user(request: web.Request) -> web.Response:
    standin = standin_of(request)
    user = standin.users.get(request.match_info["user_id"])
    if user is None:
        raise fail(UNKNOWN_USER)
    return reply(user.payload())


async def create_dm(request: web.Request) -> web.Response:
    standin = standin_of(request)
    body, _ = await read_body(request)
    user = standin.users.get(str(body["recipient_id"]))
    if user is None:
        raise fail(UNKNOWN_USER)
    channel = standin.dm_channel_for(user.id)
    return reply({**channel.payload(None), "recipients": [user.payload()]})


# -- application commands ---------------------------------------------------------------------


def _store_commands(standin: StandIn, guild_id: str | None, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    previous = {c["name"]: c for c in standin.commands.get(guild_id, [])}
    stored = []
    for command in commands:
        old = previous.get(command["name"])
        stored.append(
            {
                "id": old["id"] if old else standin.ids.next(),
                "application_id": standin.application_id,
                "version": standin.ids.next(),
                "type": command.get("type", 1),
                "default_member_permissions": command.get("default_member_permissions"),
                "dm_permission": command.get("dm_permission", True),
                "nsfw": command.get("nsfw", False),
                "integration_types": command.get("integration_types", [0]),
                "contexts": command.get("contexts"),
                "description": command.get("description", ""),
                "options": command.get("options", []),
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description_localizations": command.get("description_localizations"),
                **({"guild_id": guild_id} if guild_id else {}),
            }
        )
    standin.commands[guild_id] = stored
    return stored


async def put_commands(request: web.Request) -> web.Response:
    standin = standin_of(request)
    guild_id = request.match_info.get("guild_id")
    if guild_id is not None and guild_id != standin.guild.id:
        raise fail(MISSING_PERMISSIONS)
    body, _ = await read_body(request)
    check_commands(body)
    return reply(_store_commands(standin, guild_id, body))


async def get_commands(request: web.Request) -> web.Response:
    standin = standin_of(request)
    return reply(standin.commands.get(request.match_info.get("guild_id"), []))


# -- channels and messages --------------------------------------------------------------------


async def get_channel(request: web.Request) -> web.Response:
    standin = standin_of(request)
    channel = standin.channel(request.match_info["channel_id"])
    if channel is None:
        raise fail(UNKNOWN_CHANNEL)
    return reply(channel.payload(standin.guild.id if channel.type != s.DM else None))


async def get_avatar(request: web.Request) -> web.Response:
    """The CDN's avatar images: a plain coloured square per user, as PNG."""
    key = request.match_info.get("user_id") or request.match_info.get("index", "0")
    colour = zlib.crc32(key.encode()) & 0xFFFFFF
    image = Image.new("RGB", (128, 128), ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return web.Response(body=out.getvalue(), content_type="image/png")


async def get_attachment(request: web.Request) -> web.Response:
    standin = standin_of(request)
    upload = standin.uploads.get(request.match_info["attachment_id"])
    if upload is not None:
        return web.Response(body=upload.data, content_type=upload.content_type or "application/octet-stream")
    for message in standin.messages.values():
        for attachment in message.attachments:
            if attachment.id == request.match_info["attachment_id"]:
                return web.Response(
                    body=attachment.data, content_type=attachment.content_type or "application/octet-stream"
                )
    return web.Response(status=404)

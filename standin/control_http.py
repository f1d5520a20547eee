"""An HTTP face for the control API, for drivers in another process (benchmarks, other clients):
under /_sandbox, unauthenticated, loopback only, never recorded as bot calls."""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from standin import state as s
from standin.bans import HandRefused, ban_by_hand, unban_by_hand
from standin.control import Actor, InvalidInvocation
from standin.replies import NoAnswer

if TYPE_CHECKING:
    from standin.server import StandIn

PREFIX = "/_sandbox"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def add_control_routes(app: web.Application, standin: StandIn) -> None:
    async def describe(request: web.Request) -> web.Response:
        guild = standin.guild
        return _json(
            {
                "api_base": standin.api_base,
                "gateway_url": standin.gateway_url,
                "guild_id": guild.id,
                "channels": {c.name: c.id for c in guild.channels.values()},
                "roles": {r.name: r.id for r in guild.roles.values()},
                "members": len(guild.members),
                "sessions": len(standin.gateway.sessions),
                "connected": standin.gateway.connected,
                "identifies": standin.gateway.identify_count,
                "resumes": standin.gateway.resume_count,
                "gateway_log": standin.gateway.log,
            }
        )

    async def interactions(request: web.Request) -> web.Response:
        """Every interaction members made: answered or not, how late (ms on the stand-in's clock),
        and how many acknowledgements Discord refused as second ones (40060)."""
        listed = [
            {
                "id": i.id,
                "name": (i.data or {}).get("name"),
                "created": i.created,
                "answered": i.response_type is not None,
                "response_ms": None if i.responded is None else (i.responded - i.created) * 1000,
            }
            for i in standin.interactions.values()
        ]
        again = [c for c in standin.calls if c.path.endswith("/callback") and c.status == 400]
        return _json({"interactions": listed, "refused_second_acks": len(again)})

    async def dms(request: web.Request) -> web.Response:
        """Every DM the bot sent: to whom (username) and what."""
        by_channel = {c.id: r for r, c in standin.dm_channels.items()}
        sent = []
        for message in standin.messages.values():
            recipient = by_channel.get(message.channel_id)
            if recipient is not None and message.author.id == standin.bot_user.id:
                user = standin.users.get(recipient)
                embeds = [e.get("title") or e.get("description") or "" for e in message.embeds]
                sent.append({"to": user.username if user else recipient, "content": message.content, "embeds": embeds})
        return _json({"dms": sent})

    async def calls(request: web.Request) -> web.Response:
        """The bot's calls whose method and path match (?method=DELETE&path=/bans/)."""
        method, fragment = request.query.get("method", ""), request.query.get("path", "")
        found = [c for c in standin.calls if (not method or c.method == method) and fragment in c.path]
        return _json({"calls": [{"method": c.method, "path": c.path, "status": c.status} for c in found]})

    async def say(request: web.Request) -> web.Response:
        body = await request.json()
        member = standin.member_named(body["member"])
        channel = standin.guild.channel_named(body.get("channel", "general"))
        message = _message(standin, member, channel, body["content"])
        standin.post_message(message)
        return _json({"id": message.id})

    async def burst(request: web.Request) -> web.Response:
        """Dispatch `count` messages from random human members, as fast as the socket takes them."""
        body = await request.json()
        count = int(body["count"])
        rng = random.Random(body.get("seed", 7))
        channel = standin.guild.channel_named(body.get("channel", "general"))
        humans = [m for m in standin.guild.members.values() if not m.user.bot and m.user.id != standin.guild.owner_id]
        for i in range(count):
            member = rng.choice(humans)
            standin.post_message(_message(standin, member, channel, f"message {i} from {member.user.username}"))
        return _json({"dispatched": count})

    async def slash(request: web.Request) -> web.Response:
        """Invoke a slash command as a member and answer with what the bot replied."""

        body = await request.json()
        member = standin.member_named(body["member"])
        actor = Actor(standin, member, default_channel=standin.guild.channel_named(body.get("channel", "general")))
        try:
            reply = await actor.slash(body["command"], timeout=float(body.get("timeout", 5)), **body.get("options", {}))
        except (LookupError, InvalidInvocation) as exc:
            return _json({"error": str(exc)}, 400)
        except NoAnswer as exc:
            return _json({"error": str(exc)}, 504)
        interaction = reply.interaction
        latency = None
        if interaction is not None and interaction.responded is not None:
            latency = (interaction.responded - interaction.created) * 1000
        return _json(
            {
                "content": reply.content,
                "embeds": reply.embeds,
                "ephemeral": reply.ephemeral,
                "text": reply.text,
                "first_response_ms": latency,
            }
        )

    async def delay(request: web.Request) -> web.Response:
        """Answer the bot's next `times` calls of `method` on paths starting with `path` `seconds` late."""
        body = await request.json()
        seconds, times = float(body["seconds"]), int(body.get("times", 1))
        standin.inject_delay(body["method"], body["path"], seconds=seconds, times=times)
        return _json({"delayed": body["path"]})

    async def commands(request: web.Request) -> web.Response:
        return _json({"guild": standin.commands.get(standin.guild.id, []), "global": standin.commands.get(None, [])})

    async def stream(request: web.Request) -> web.Response:
        """Post `rate` messages a second for `seconds`, from random human members, in the background."""
        body = await request.json()
        rate, seconds = float(body["rate"]), float(body["seconds"])
        channel = standin.guild.channel_named(body.get("channel", "general"))
        rng = random.Random(body.get("seed", 11))
        humans = [m for m in standin.guild.members.values() if not m.user.bot and m.user.id != standin.guild.owner_id]

        async def run() -> None:
            loop = asyncio.get_running_loop()
            start = loop.time()
            sent = 0
            while (elapsed := loop.time() - start) < seconds:
                due = int(elapsed * rate)
                for _ in range(due - sent):
                    member = rng.choice(humans)
                    standin.post_message(_message(standin, member, channel, f"stream {sent} {member.user.username}"))
                    sent += 1
                standin.stream_sent = sent
                await asyncio.sleep(0.01)

        standin.stream_sent = 0
        standin.stream_task = asyncio.create_task(run())
        return _json({"streaming": True})

    async def stream_status(request: web.Request) -> web.Response:
        task = getattr(standin, "stream_task", None)
        return _json({"done": task is None or task.done(), "sent": getattr(standin, "stream_sent", 0)})

    async def by_hand(request: web.Request) -> web.Response:
        """What members and moderators do in Discord itself, not through the bot: `action` is ban or
        unban (`by` bans or unbans `member`), join (a new or returning `member`), leave, give_role or
        take_role (`role` by name), voice (`member` joins voice channel `channel`) or interested
        (`member` marks interest in the scheduled event named `event`). Each is dispatched to every gateway session."""
        body = await request.json()
        action, name = body["action"], body["member"]
        try:
            if action == "ban":
                ban_by_hand(standin, standin.member_named(body["by"]), standin.user_named(name), body.get("reason"))
            elif action == "unban":
                unban_by_hand(standin, standin.member_named(body["by"]), standin.user_named(name), body.get("reason"))
            elif action == "join":
                standin.add_member(name)
            elif action == "leave":
                standin.remove_member(standin.member_named(name).user.id)
            elif action in ("give_role", "take_role"):
                member, role = standin.member_named(name), standin.guild.role_named(body["role"]).id
                kept = [r for r in member.roles if r != role]
                member.roles = [*kept, role] if action == "give_role" else kept
                standin.member_updated(member)
            elif action == "voice":
                channel = standin.guild.channel_named(body["channel"])
                standin.set_voice_state(standin.member_named(name).user.id, s.VoiceState(channel_id=channel.id))
            elif action == "interested":
                event = next(e for e in standin.guild.scheduled_events.values() if e.name == body["event"])
                standin.mark_interested(event.id, standin.member_named(name).user.id)
            else:
                return _json({"error": f"unknown action {action!r}"}, 400)
        except (LookupError, StopIteration, HandRefused) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"done": action})

    app.router.add_post(f"{PREFIX}/by-hand", by_hand)
    app.router.add_post(f"{PREFIX}/stream", stream)
    app.router.add_get(f"{PREFIX}/stream", stream_status)
    app.router.add_get(f"{PREFIX}/state", describe)
    app.router.add_get(f"{PREFIX}/interactions", interactions)
    app.router.add_get(f"{PREFIX}/dms", dms)
    app.router.add_get(f"{PREFIX}/calls", calls)
    app.router.add_get(f"{PREFIX}/commands", commands)
    app.router.add_post(f"{PREFIX}/slash", slash)
    app.router.add_post(f"{PREFIX}/say", say)
    app.router.add_post(f"{PREFIX}/burst", burst)
    app.router.add_post(f"{PREFIX}/delay", delay)


def _message(standin: StandIn, member: s.Member, channel: s.Channel, content: str) -> s.Message:
    return s.Message(
        id=standin.ids.next(),
        channel_id=channel.id,
        author=member.user,
        content=content,
        guild_id=standin.guild.id,
        member=member,
    )

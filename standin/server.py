"""The local Discord stand-in: one aiohttp server speaking Discord's REST API (under /api/v10) and gateway,
holding one guild. Every call the bot makes is recorded; what the bot does is observable."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from standin import state as s
from standin.app import build_app
from standin.gateway import Gateway
from standin.guild import Guild
from standin.records import (
    INTERACTION_WINDOW_S,
    WEBHOOK_TOKEN_TTL_S,
    Call,
    Clock,
    Failure,
    Interaction,
    NotInServer,
    Output,
    Refusal,
)
from standin.uploads import bot_limit

log = logging.getLogger(__name__)


class StandIn:
    def __init__(
        self, *, token: str | None = None, guild_name: str = "The Conclave Realm", clock_skew: float = 0.0
    ) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.ids = s.Snowflakes(skew=clock_skew)
        self.application_id = self.ids.next()
        self.bot_user = s.User(id=self.application_id, username="Conclave", bot=True)
        owner = s.User(id=self.ids.next(), username="owner")
        self.guild = Guild(id=self.ids.next(), name=guild_name, owner_id=owner.id)
        self.guild.roles[self.guild.id] = s.Role(id=self.guild.id, name="@everyone", permissions=s.MEMBER_PERMISSIONS)
        self.users: dict[str, s.User] = {owner.id: owner, self.bot_user.id: self.bot_user}
        self.guild.members[owner.id] = s.Member(user=owner)
        self.bot_role = s.Role(
            id=self.ids.next(),
            name="Conclave",
            managed=True,
            position=100,
            permissions=s.MEMBER_PERMISSIONS
            | s.MANAGE_ROLES
            | s.KICK_MEMBERS
            | s.BAN_MEMBERS
            | s.MODERATE_MEMBERS
            | s.MANAGE_EVENTS
            | s.MUTE_MEMBERS
            | s.MANAGE_NICKNAMES
            | s.MANAGE_MESSAGES,
        )
        self.guild.roles[self.bot_role.id] = self.bot_role
        self.guild.members[self.bot_user.id] = s.Member(user=self.bot_user, roles=[self.bot_role.id])
        self.bot_joined_at = s.now()
        self.dm_channels: dict[str, s.Channel] = {}  # recipient id -> channel
        self.messages: dict[str, s.Message] = {}
        self.uploads: dict[str, s.Attachment] = {}  # files members attached to a command's option
        self.interactions: dict[str, Interaction] = {}
        self.clock = Clock()  # the interaction windows' clock (tests advance it)
        self.interaction_window = INTERACTION_WINDOW_S  # Discord's 3 s to acknowledge (tests shorten it)
        self.webhook_token_ttl = WEBHOOK_TOKEN_TTL_S  # followups and edits, for 15 minutes
        self.refusals: list[Refusal] = []  # bodies refused for breaking Discord's limits
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> commands
        self.calls: list[Call] = []
        self.outputs: list[Output] = []
        self.observers: list[Callable[[Output], None]] = []
        self.failures: list[Failure] = []
        self._waiters: list[tuple[Callable[[Output], bool], asyncio.Future[Output]]] = []
        self.gateway = Gateway(self)
        self.stream_task: asyncio.Task[None] | None = None  # a message stream started over /_sandbox
        self.stream_sent = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> StandIn:

        self.runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("Discord stand-in listening on %s", self.api_base)
        return self

    async def stop(self) -> None:
        await self.gateway.close()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # -- records and waiting ------------------------------------------------------------------

    def record(self, method: str, path: str, body: Any, status: int) -> None:
        self.calls.append(Call(method, path, body, status))

    def refused(self, method: str, path: str, errors: dict[str, Any]) -> None:
        log.warning("stand-in refused %s %s as Discord would: %s", method, path, errors)
        self.refusals.append(Refusal(method, path, errors))
        self.emit(Output("refused", data={"method": method, "path": path, "errors": errors}))

    def calls_to(self, method: str, path_fragment: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and path_fragment in c.path]

    def emit(self, output: Output) -> None:
        self.outputs.append(output)
        for observer in list(self.observers):
            try:
                observer(output)
            except Exception:
                log.exception("stand-in observer failed")
        for waiter in list(self._waiters):
            predicate, future = waiter
            if not future.done() and predicate(output):
                future.set_result(output)
                self._waiters.remove(waiter)

    async def wait_for(
        self, predicate: Callable[[Output], bool], *, timeout: float = 5.0, past: bool = False
    ) -> Output:
        """The first output (from now on, or already seen when `past`) that matches."""
        if past:
            for output in self.outputs:
                if predicate(output):
                    return output
        future: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def inject_failure(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int,
        code: int = 0,
        message: str = "injected failure",
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        body: dict[str, Any] = {"code": code, "message": message}
        if status == 429:
            body = {
                "message": "You are being rate limited.",
                "retry_after": retry_after or 0.1,
                "global": False,
            }
        self.failures.append(Failure(method, path_prefix, status, body, times, retry_after))

    def inject_delay(self, method: str, path_prefix: str, *, seconds: float, times: int = 1) -> None:
        """The next `times` matching calls are answered `seconds` late (as a slow Discord would)."""
        self.failures.append(Failure(method, path_prefix, 0, {}, times, delay=seconds))

    def take_failure(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.method == method and path.startswith(failure.path_prefix) and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    # -- guild set-up and changes made "by Discord" -------------------------------------------

    def add_role(self, name: str, *, permissions: int = 0, position: int | None = None, color: int = 0) -> s.Role:
        if position is None:
            position = max((r.position for r in self.guild.roles.values()), default=0) + 1
        role = s.Role(id=self.ids.next(), name=name, permissions=permissions, position=position, color=color)
        self.guild.roles[role.id] = role
        self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": self.guild.id, "role": role.payload()})
        return role

    def mark_interested(self, event_id: str, user_id: str) -> None:
        """A member clicks "Interested" on a guild scheduled event."""
        event = self.guild.scheduled_events[event_id]
        event.user_count += 1
        self.gateway.dispatch(
            "GUILD_SCHEDULED_EVENT_USER_ADD",
            {"guild_scheduled_event_id": event_id, "user_id": user_id, "guild_id": self.guild.id},
        )

    def set_role_permissions(self, role: s.Role, permissions: int) -> None:
        """An admin edits a role's permissions (the bot is told, as Discord tells it)."""
        role.permissions = permissions
        self.gateway.dispatch("GUILD_ROLE_UPDATE", {"guild_id": self.guild.id, "role": role.payload()})

    def add_channel(self, name: str, *, type: int = s.TEXT, parent: s.Channel | None = None) -> s.Channel:
        position = sum(1 for c in self.guild.channels.values() if c.type == type)
        channel = s.Channel(
            id=self.ids.next(),
            name=name,
            type=type,
            parent_id=parent.id if parent else None,
            position=position,
            owner_id=self.guild.owner_id if type == s.PUBLIC_THREAD else None,
        )
        self.guild.channels[channel.id] = channel
        self.gateway.dispatch("CHANNEL_CREATE", channel.payload(self.guild.id))
        return channel

    def add_member(
        self,
        name: str,
        *,
        roles: list[s.Role] | None = None,
        bot: bool = False,
        joined_at: datetime | None = None,
    ) -> s.Member:
        """A new member joins the guild (a returning user keeps their user id)."""
        user = next((u for u in self.users.values() if u.username == name), None)
        if user is None:
            user = s.User(id=self.ids.next(), username=name, global_name=name.capitalize(), bot=bot)
            self.users[user.id] = user
        member = s.Member(user=user, roles=[r.id for r in roles or []], joined_at=joined_at or s.now())
        self.guild.members[user.id] = member
        self.gateway.dispatch("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": self.guild.id})
        return member

    def member_named(self, name: str) -> s.Member:
        for member in self.guild.members.values():
            if member.user.username == name:
                return member
        raise LookupError(f"no member named {name!r}")

    def user_named(self, name: str) -> s.User:
        for user in self.users.values():
            if user.username == name:
                return user
        raise LookupError(f"no user named {name!r}")

    def remove_member(self, user_id: str) -> None:
        member = self.guild.members.pop(user_id, None)
        self.guild.voice_states.pop(user_id, None)
        if member is not None:
            self.gateway.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": self.guild.id, "user": member.user.payload()})

    def set_status(self, user_id: str, status: str) -> None:
        """A member comes online, goes idle or offline (PRESENCE_UPDATE, to bots with the presences intent)."""
        member = self.guild.members[user_id]
        member.status = status
        self.gateway.dispatch("PRESENCE_UPDATE", member.presence(self.guild.id))

    def member_updated(self, member: s.Member) -> None:
        self.gateway.dispatch("GUILD_MEMBER_UPDATE", {**member.payload(), "guild_id": self.guild.id})

    def set_voice_state(self, user_id: str, voice: s.VoiceState | None) -> None:
        if voice is None:
            self.guild.voice_states.pop(user_id, None)
        else:
            self.guild.voice_states[user_id] = voice
        self.gateway.dispatch("VOICE_STATE_UPDATE", self.guild.voice_state_payload(user_id, voice))

    # -- messages -----------------------------------------------------------------------------

    def channel(self, channel_id: str) -> s.Channel | None:
        channel = self.guild.channels.get(channel_id)
        if channel is not None:
            return channel
        return next((c for c in self.dm_channels.values() if c.id == channel_id), None)

    def dm_channel_for(self, user_id: str) -> s.Channel:
        channel = self.dm_channels.get(user_id)
        if channel is None:
            channel = s.Channel(id=self.ids.next(), name="", type=s.DM, recipient_id=user_id)
            self.dm_channels[user_id] = channel
        return channel

    def post_message(self, message: s.Message, *, dispatch: bool = True) -> s.Message:
        self.messages[message.id] = message
        if dispatch:
            mentions_bot = any(u.id == self.bot_user.id for u in message.mentions)
            self.gateway.dispatch("MESSAGE_CREATE", message.payload(self.base_url), message_mentions_bot=mentions_bot)
        return message

    # -- interactions -------------------------------------------------------------------------

    def new_interaction(
        self,
        *,
        type: int,
        data: dict[str, Any],
        user: s.User,
        channel_id: str,
        message: s.Message | None = None,
        elsewhere: str | None = None,
    ) -> Interaction:
        """`elsewhere`: sent from another server (this id) that the bot is in, by the same user as
        an administrator there (Discord delivers global commands in every server)."""
        channel = self.channel(channel_id)
        in_guild = channel is not None and channel.type != s.DM
        if in_guild and user.id not in self.guild.members:
            raise NotInServer(user.username, banned=user.id in self.guild.bans)
        interaction = Interaction(
            id=self.ids.next(),
            token=secrets.token_urlsafe(48),
            type=type,
            data=data,
            user=user,
            channel_id=channel_id,
            guild_id=self.guild.id if in_guild else None,
            message=message,
            created=self.clock.now(),
        )
        self.interactions[interaction.id] = interaction
        payload: dict[str, Any] = {
            "id": interaction.id,
            "application_id": self.application_id,
            "type": type,
            "data": data,
            "channel_id": channel_id,
            "channel": channel.payload(interaction.guild_id) if channel else None,
            "token": interaction.token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": str(self.guild.permissions_of(self.guild.members[self.bot_user.id])),
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.guild.id} if in_guild else {"1": user.id},
            "context": 0 if in_guild else 1,
            "attachment_size_limit": bot_limit(self.guild.premium_tier if in_guild else None),
        }
        if in_guild:
            member = self.guild.members[user.id]
            payload["guild_id"] = self.guild.id
            payload["guild_locale"] = "en-US"
            payload["guild"] = {"id": self.guild.id, "locale": "en-US", "features": ["COMMUNITY"]}
            payload["member"] = {**member.payload(), "permissions": str(self.guild.permissions_of(member))}
            if elsewhere is not None:
                payload["guild_id"] = elsewhere
                payload["guild"] = {"id": elsewhere, "locale": "en-US", "features": []}
                payload["member"] = {**member.payload(), "roles": [], "permissions": str(s.ADMINISTRATOR)}
        else:
            payload["user"] = user.payload()
        if message is not None:
            payload["message"] = message.payload(self.base_url)
        interaction.payload = payload
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def interaction_by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

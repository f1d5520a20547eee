"""Acting as members of the stand-in's guild: chat, voice, roles, slash commands, buttons, selects
and modals, and awaiting what the bot answers. Tests and the sandbox prompt both use this."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from standin import bans
from standin import state as s
from standin.records import NotInServer
from standin.replies import Reply, answer
from standin.uploads import MIB, member_limit

if TYPE_CHECKING:
    from standin.records import Interaction
    from standin.server import StandIn

APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
MESSAGE_MENU = 3  # an application command of type MESSAGE: a message context menu
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11


class InvalidInvocation(ValueError):
    """Discord's own client refuses this input (missing required option, out of range, not a choice):
    the bot never sees it."""


def option_definitions(command: dict[str, Any], path: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The option definitions of the (sub)command at `path`, and the nesting wrappers."""
    options = command.get("options", [])
    kinds: list[str] = []
    for name in path[1:]:
        sub = next((o for o in options if o["name"] == name and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
        if sub is None:
            raise LookupError(f"/{' '.join(path)}: no subcommand {name!r}")
        kinds.append(name)
        options = sub.get("options", [])
    return options, kinds


@dataclass
class Actor:
    """A member of the guild, as a test or the sandbox drives them."""

    standin: StandIn
    member: s.Member
    default_channel: s.Channel | None = None
    last_messages: list[s.Message] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.member.user.id

    @property
    def name(self) -> str:
        return self.member.user.username

    @property
    def in_server(self) -> bool:
        return self.id in self.standin.guild.members

    def require_membership(self) -> None:
        """Only a member posts, talks in voice or uses commands in the server (NotInServer otherwise)."""
        if not self.in_server:
            raise NotInServer(self.name, banned=self.id in self.standin.guild.bans)

    def _channel(self, channel: s.Channel | str | None) -> s.Channel:
        if isinstance(channel, s.Channel):
            return channel
        if isinstance(channel, str):
            return self.standin.guild.channel_named(channel)
        if self.default_channel is None:
            raise ValueError("no channel given and no default channel")
        return self.default_channel

    # -- chat -------------------------------------------------------------------------------

    def say(
        self,
        content: str,
        *,
        channel: s.Channel | str | None = None,
        mentions: list[s.User] | None = None,
        via_webhook: bool = False,
        message_type: int = 0,
        sent_at: datetime | None = None,
    ) -> s.Message:
        """Post a message; `via_webhook` sends it as a webhook would, `message_type` 7 is a join
        notice, `sent_at` dates it in the past (as a message from before the bot last looked)."""
        target = self._channel(channel)
        if target.type != s.DM:
            self.require_membership()
        standin = self.standin
        message = s.Message(
            id=standin.ids.next(at=sent_at),
            timestamp=sent_at or s.now(),
            channel_id=target.id,
            author=self.member.user,
            content=content,
            guild_id=standin.guild.id,
            member=None if via_webhook else self.member,
            mentions=mentions or [],
            webhook_id=standin.ids.next() if via_webhook else None,
            type=message_type,
        )
        self.last_messages.append(message)
        return standin.post_message(message)

    def redeliver(self, message: s.Message) -> None:
        """Dispatch the same message event again (as a gateway replay would)."""
        self.standin.post_message(message)

    def dm_bot(self, content: str) -> s.Message:
        standin = self.standin
        channel = standin.dm_channel_for(self.id)
        message = s.Message(id=standin.ids.next(), channel_id=channel.id, author=self.member.user, content=content)
        return standin.post_message(message)

    # -- voice and membership ---------------------------------------------------------------

    def join_voice(self, channel: s.Channel | str, *, self_mute: bool = False, self_deaf: bool = False) -> None:
        self.require_membership()
        target = self._channel(channel)
        self.standin.set_voice_state(
            self.id, s.VoiceState(channel_id=target.id, self_mute=self_mute, self_deaf=self_deaf)
        )

    def set_voice(self, *, self_mute: bool | None = None, self_deaf: bool | None = None) -> None:
        self.require_membership()
        current = self.standin.guild.voice_states.get(self.id)
        if current is None:
            raise ValueError(f"{self.name} is not in voice")
        if self_mute is not None:
            current.self_mute = self_mute
        if self_deaf is not None:
            current.self_deaf = self_deaf
        self.standin.set_voice_state(self.id, current)

    def leave_voice(self) -> None:
        self.require_membership()
        self.standin.set_voice_state(self.id, None)

    def leave_guild(self) -> None:
        self.standin.remove_member(self.id)

    def rejoin_guild(self) -> None:
        self.member = self.standin.add_member(self.name)

    def gain_role(self, role: s.Role | str) -> None:
        target = role if isinstance(role, s.Role) else self.standin.guild.role_named(role)
        if target.id not in self.member.roles:
            self.member.roles.append(target.id)
            self.standin.member_updated(self.member)

    def lose_role(self, role: s.Role | str) -> None:
        target = role if isinstance(role, s.Role) else self.standin.guild.role_named(role)
        if target.id in self.member.roles:
            self.member.roles.remove(target.id)
            self.standin.member_updated(self.member)

    # -- moderation in Discord's own menus (not through the bot) ------------------------------

    def ban_in_discord(self, target: Actor | s.User, reason: str | None = None) -> None:
        """Ban from the member list's menu: GUILD_BAN_ADD and an audit-log entry by this member."""
        bans.ban_by_hand(self.standin, self.member, _user(target), reason)

    def unban_in_discord(self, target: Actor | s.User, reason: str | None = None) -> None:
        """Revoke a ban in Server Settings → Bans: GUILD_BAN_REMOVE and an audit-log entry."""
        bans.unban_by_hand(self.standin, self.member, _user(target), reason)

    def timeout_in_discord(
        self, target: Actor, duration: timedelta | None, reason: str | None = None, *, until: datetime | None = None
    ) -> None:
        """Time a member out from the member list's menu (or `duration` None: remove it early):
        GUILD_MEMBER_UPDATE and a MEMBER_UPDATE audit-log entry by this member."""
        end = until if until is not None else (s.now() + duration if duration is not None else None)
        bans.timeout_by_hand(self.standin, self.member, target.member, end, reason)

    # -- application commands ---------------------------------------------------------------

    def command(self, name: str) -> dict[str, Any]:
        """The slash command `name` as registered (guild commands first)."""
        registered = self.standin.commands.get(self.standin.guild.id, []) + self.standin.commands.get(None, [])
        slash = [c for c in registered if c.get("type", 1) == 1]  # chat input, not the context menus
        for command in slash:
            if command["name"] == name:
                return command
        known = ", ".join(sorted({c["name"] for c in slash}))
        raise LookupError(f"/{name} is not a command here (commands: {known})")

    def _build_options(
        self,
        definitions: list[dict[str, Any]],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in definitions}
        missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in values]
        if missing and focused is None:
            raise InvalidInvocation(f"missing required option(s): {', '.join(missing)}")
        built = []
        for key, value in values.items():
            definition = by_name.get(key)
            if definition is None:
                raise LookupError(f"no option {key!r}; options are {', '.join(sorted(by_name))}")
            kind = definition["type"]
            # What the member is typing arrives as typed (Discord sends a number option's partial
            # input as a string: it may be empty or not a number yet).
            typed = key == focused and kind in (INTEGER, NUMBER)
            try:
                resolved_value = str(value) if typed else self._resolve(kind, value, resolved)
            except InvalidInvocation as problem:
                raise InvalidInvocation(f"{key}: {problem}") from None
            option: dict[str, Any] = {"name": key, "type": kind, "value": resolved_value}
            if key == focused:
                option["focused"] = True
            else:
                _validate(definition, option["value"])
            built.append(option)
        return built

    def _resolve(self, kind: int, value: Any, resolved: dict[str, dict[str, Any]]) -> Any:
        guild = self.standin.guild
        if kind in (USER, MENTIONABLE) and isinstance(value, str):
            # By name or id; someone no longer in the server (banned, left) is still a user, as a
            # Discord client resolves a pasted id to the user it belongs to.
            name = value.lstrip("@")
            if name.isdigit():
                value = self.standin.users.get(name) or value
            else:
                try:
                    value = self.standin.member_named(name)
                except LookupError:
                    value = self.standin.user_named(name)
        if kind == ROLE and isinstance(value, str) and not value.isdigit():
            value = guild.role_named(value.lstrip("@"))
        if kind in (USER, MENTIONABLE) and isinstance(value, (Actor, s.Member, s.User)):
            user = (
                value.member.user if isinstance(value, Actor) else value.user if isinstance(value, s.Member) else value
            )
            resolved.setdefault("users", {})[user.id] = user.payload()
            member = guild.members.get(user.id)
            if member is not None:
                resolved.setdefault("members", {})[user.id] = {
                    **member.payload(with_user=False),
                    "permissions": str(guild.permissions_of(member)),
                }
            return user.id
        if kind in (ROLE, MENTIONABLE) and isinstance(value, s.Role):
            resolved.setdefault("roles", {})[value.id] = value.payload()
            return value.id
        if kind == CHANNEL:
            channel = value if isinstance(value, s.Channel) else guild.channel_named(str(value))
            resolved.setdefault("channels", {})[channel.id] = {
                **channel.payload(guild.id),
                "permissions": str(s.ALL_PERMISSIONS),
            }
            return channel.id
        if kind == ATTACHMENT:  # (filename, bytes), or a file's path (the sandbox: file:./mee6.json)
            if isinstance(value, str):
                path = Path(value).expanduser()
                if not path.is_file():
                    raise InvalidInvocation(f"no file {value!r} to attach")
                value = (path.name, path.read_bytes())
            filename, data = value
            limit = member_limit(self.member.user.premium_type, guild.premium_tier)
            if len(data) > limit:  # Discord's client refuses it: "Your files are too powerful"
                raise InvalidInvocation(
                    f"your files are too powerful: {filename} is {len(data) / MIB:,.2f} MB and "
                    f"the max file size is {limit // MIB} MB"
                )
            upload = s.Attachment(id=self.standin.ids.next(), filename=filename, data=data, content_type=None)
            self.standin.uploads[upload.id] = upload
            resolved.setdefault("attachments", {})[upload.id] = upload.payload(self.standin.base_url)
            return upload.id
        if kind == INTEGER:
            try:
                return int(value)
            except ValueError:
                raise InvalidInvocation(f"{value!r} is not a whole number") from None
        if kind == NUMBER:
            try:
                return float(value)
            except ValueError:
                raise InvalidInvocation(f"{value!r} is not a number") from None
        if kind == BOOLEAN:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1")
        return value

    def _command_data(self, path: str, options: dict[str, Any], focused: str | None = None) -> dict[str, Any]:
        parts = path.split()
        command = self.command(parts[0])
        definitions, nesting = option_definitions(command, parts)
        resolved: dict[str, dict[str, Any]] = {}
        built = self._build_options(definitions, options, resolved, focused)
        for depth in range(len(nesting), 0, -1):
            name = nesting[depth - 1]
            kind = SUB_COMMAND if depth == len(nesting) else SUB_COMMAND_GROUP
            built = [{"name": name, "type": kind, "options": built}]
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": built}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def invoke(
        self, path: str, *, where: s.Channel | str | None = None, elsewhere: str | None = None, **options: Any
    ) -> Interaction:
        """Send the slash command `/path` (e.g. "xp give") from channel `where` with options
        (`elsewhere`: from another server the bot is in, see StandIn.new_interaction)."""
        data = self._command_data(path.lstrip("/"), options)
        return self.standin.new_interaction(
            type=APPLICATION_COMMAND,
            data=data,
            user=self.member.user,
            channel_id=self._channel(where).id,
            elsewhere=elsewhere,
        )

    async def message_command(self, name: str, message: s.Message, *, timeout: float = 5.0) -> Reply:
        """Use the message context menu `name` (right click a message > Apps) on `message`."""
        guild_commands = self.standin.commands.get(self.standin.guild.id, []) + self.standin.commands.get(None, [])
        command = next((c for c in guild_commands if c["name"] == name and c.get("type") == MESSAGE_MENU), None)
        if command is None:
            raise LookupError(f"no message command {name!r} here")
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": MESSAGE_MENU,
            "target_id": message.id,
            "resolved": {"messages": {message.id: message.payload(self.standin.base_url)}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        interaction = self.standin.new_interaction(
            type=APPLICATION_COMMAND, data=data, user=self.member.user, channel_id=message.channel_id
        )
        return await answer(self.standin, interaction, timeout)

    async def slash(
        self,
        path: str,
        *,
        where: s.Channel | str | None = None,
        timeout: float = 5.0,
        elsewhere: str | None = None,
        **options: Any,
    ) -> Reply:
        return await answer(self.standin, self.invoke(path, where=where, elsewhere=elsewhere, **options), timeout)

    async def autocomplete(
        self, path: str, option: str, partial: str, *, timeout: float = 5.0, **others: Any
    ) -> list[dict[str, Any]]:
        data = self._command_data(path.lstrip("/"), {**others, option: partial}, focused=option)
        interaction = self.standin.new_interaction(
            type=AUTOCOMPLETE, data=data, user=self.member.user, channel_id=self._channel(None).id
        )
        reply = await answer(self.standin, interaction, timeout)
        return reply.choices or []

    async def click(self, message: s.Message | Reply, label_or_id: str, *, timeout: float = 5.0) -> Reply:
        target = message.message if isinstance(message, Reply) else message
        assert target is not None, "no message to click on"
        component = _find_component(target, label_or_id)
        data = {"custom_id": component["custom_id"], "component_type": component["type"]}
        return await answer(self.standin, self._component(target, data), timeout)

    async def choose(
        self, message: s.Message | Reply, custom_id: str, values: list[str], *, timeout: float = 5.0
    ) -> Reply:
        target = message.message if isinstance(message, Reply) else message
        assert target is not None, "no message to choose on"
        component = _find_component(target, custom_id)
        data = {"custom_id": component["custom_id"], "component_type": component["type"], "values": values}
        return await answer(self.standin, self._component(target, data), timeout)

    async def submit(self, modal: Reply | dict[str, Any], values: dict[str, str], *, timeout: float = 5.0) -> Reply:
        """Fill in a modal the bot opened (text inputs by custom_id or label) and submit it."""
        spec = modal.modal if isinstance(modal, Reply) else modal
        assert spec is not None, "the bot opened no modal"
        rows = []
        for row in spec.get("components", []):
            if row.get("type") == 18:  # label wrapping one component
                inner = row["component"]
                key = inner["custom_id"] if inner["custom_id"] in values else row.get("label")
                rows.append(
                    {
                        "type": 18,
                        "component": {
                            "type": inner["type"],
                            "custom_id": inner["custom_id"],
                            "value": values.get(key, ""),
                        },
                    }
                )
                continue
            inputs = []
            for component in row.get("components", []):
                key = component["custom_id"] if component["custom_id"] in values else component.get("label")
                inputs.append(
                    {
                        "type": component["type"],
                        "custom_id": component["custom_id"],
                        "value": values.get(key, ""),
                    }
                )
            rows.append({"type": 1, "components": inputs})
        source = modal.interaction if isinstance(modal, Reply) else None
        interaction = self.standin.new_interaction(
            type=MODAL_SUBMIT,
            data={"custom_id": spec["custom_id"], "components": rows},
            user=self.member.user,
            channel_id=source.channel_id if source else self._channel(None).id,
            message=source.message if source else None,
        )
        return await answer(self.standin, interaction, timeout)

    def _component(self, message: s.Message, data: dict[str, Any]) -> Interaction:
        return self.standin.new_interaction(
            type=COMPONENT, data=data, user=self.member.user, channel_id=message.channel_id, message=message
        )


def _user(target: Actor | s.User) -> s.User:
    return target.member.user if isinstance(target, Actor) else target


def _validate(definition: dict[str, Any], value: Any) -> None:
    """The checks Discord's client makes before a command is sent."""
    name = definition["name"]
    if definition.get("choices") and value not in [c["value"] for c in definition["choices"]]:
        choices = ", ".join(str(c["value"]) for c in definition["choices"])
        raise InvalidInvocation(f"{name}: {value!r} is not one of the choices: {choices}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = definition.get("min_value"), definition.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidInvocation(f"{name}: {value} is outside {low}..{high}")
    if isinstance(value, str) and definition["type"] == STRING:
        low, high = definition.get("min_length", 0), definition.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise InvalidInvocation(f"{name}: length {len(value)} is outside {low}..{high}")


def plain_label(text: str) -> str:
    """A label as a person reads it out: letters and digits, case and emoji left out ("Next ▶" is
    "next")."""
    return " ".join("".join(c if c.isalnum() else " " for c in text).split()).casefold()


def component_matches(component: dict[str, Any], label_or_id: str) -> bool:
    """The component named by its custom id, its label (with or without its emoji), or its placeholder."""
    if label_or_id in (component.get("custom_id"), component.get("label")):
        return True
    wanted = plain_label(label_or_id)
    names = [
        component.get("label") or "",
        component.get("placeholder") or "",
        (component.get("emoji") or {}).get("name") or "",
    ]
    return bool(wanted) and any(plain_label(n) == wanted for n in names if n)


def _find_component(message: s.Message, label_or_id: str) -> dict[str, Any]:
    for row in message.components:
        for component in row.get("components", []):
            if component_matches(component, label_or_id):
                return component
    raise LookupError(f"no component {label_or_id!r} on message {message.id}")

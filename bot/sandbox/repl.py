"""`python -m bot sandbox`: the bot against the local stand-in with a demo guild, driven from a prompt
(or from standard input when it is not a terminal, so it can be scripted).

The lines a person types (see HELP) become what a Discord client would send: slash commands with
their options (by name, or in order), autocomplete shown and picked by number, buttons by their
label, message menus, forms answered by field label or field by field. What the sandbox itself
cannot make sense of is answered in one line starting with "!"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.core import errors
from bot.core.config import Config
from bot.sandbox import completion, forms
from bot.sandbox.harness import Harness
from bot.sandbox.words import answers
from bot.sandbox.words import words as typed_words
from db.pool import open_database, recreate_database
from standin import state as s
from standin.control import (
    INTEGER,
    MESSAGE_MENU,
    NUMBER,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    Actor,
    InvalidInvocation,
    component_matches,
    option_definitions,
)
from standin.records import NotInServer
from standin.render import message_text, readable
from standin.replies import NoAnswer, Reply
from standin.server import Output

log = logging.getLogger(__name__)

SANDBOX_DATABASE = "conclave_sandbox"
REFUSALS_KEPT = 1000
SETTLE_S = 0.3
MAX_WAIT_S = 600.0

HELP = """\
Type lines as a member of the demo server (members: alice, bob, carol, and mod, a moderator and admin):
  alice: hello everyone                 say something in #general
  alice in #gaming-chat: gg             say something in another channel
  alice: /about                         use a slash command
  mod: /xp give member:alice amount:50 reason:"helped out"
                                        subcommands, then options as name:value (quote spaces)
  alice: /achievement notify dm         or option values in order, without their names
  alice: /event register event:Game     an option that autocompletes: one match is taken, several
  1                                       are listed and a number picks one
  bob clicks Next                       click a button (by its label, emoji or not) on the last
                                          message bob can see that has it
  bob chooses <menu> <values>           pick values in a select menu (by custom id or placeholder;
                                          none of the bot's messages has one yet)
  mod: Warn on alice's last message     a message menu (right click a message > Apps)
  mod fills title="Game night" start="tomorrow 20:00"
                                        answer the last form the bot opened, by field label
                                          (dates: 2026-12-05 20:00, or today/tomorrow/in 3 days 20:00)
  mod fills                             answer it field by field (an empty line leaves one empty)
  bob joins voice | bob leaves voice | bob mutes | bob unmutes
  dora joins | dora leaves              someone joins or leaves the server (someone banned joins
                                          again once a moderator unbans them)
  wait 2                                let two seconds pass
  channels | members | help | quit
Tab completes member names, commands, subcommands, options and their values (a member, a choice,
  or what the bot suggests for an option that autocompletes, as Discord asks it while you type).
"""

SAY = re.compile(r"^(?P<who>[\w.-]+)(?:\s+in\s+#(?P<channel>[\w-]+))?:\s*(?P<text>.+)$")
ACTION = re.compile(
    r"^(?P<who>[\w.-]+)\s+(?P<verb>clicks|chooses|submits|fills|joins|leaves|mutes|unmutes)\b\s*(?P<rest>.*)$"
)
MENU = re.compile(r"^(?P<menu>.+?) on (?P<whom>[\w.-]+)'s last message$")
LAST_MESSAGE = re.compile(r"^(?P<whom>[\w.-]+)'s last message$")
CANCEL = ("cancel", "/cancel")


@dataclass
class FormInProgress:
    """A form answered field by field: the next lines are its answers."""

    who: Actor
    modal: Reply
    fields: list[forms.Field]
    answers: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> forms.Field:
        return self.fields[len(self.answers)]


@dataclass
class ChoiceInProgress:
    """A command waiting for one of the listed autocomplete choices (by number)."""

    who: Actor
    path: str
    options: dict[str, Any]
    option: str
    choices: list[dict[str, Any]]
    channel: str | None


class Sandbox:
    def __init__(self, harness: Harness, out: TextIO, media_dir: Path, *, interactive: bool = False) -> None:
        self.h = harness
        self.out = out
        self.media_dir = media_dir
        self.interactive = interactive  # a form opened at a terminal is asked field by field
        self.last_modal: dict[str, Reply] = {}
        self.waiting: FormInProgress | ChoiceInProgress | None = None
        self.refused: deque[str] = deque(maxlen=REFUSALS_KEPT)  # interactions the bot answered with an error
        # The suggestions Tab offered ((command path, option, name) -> value): a line sent with one's
        # name sends its value, as picking a suggestion in Discord does.
        self.suggested: dict[tuple[str, str, str], Any] = {}
        harness.standin.observers.append(self.show)
        errors.error_listeners.append(self._bot_refused)

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            errors.error_listeners.remove(self._bot_refused)

    def _bot_refused(self, interaction_id: int, message: str) -> None:
        self.refused.append(str(interaction_id))

    # -- what the bot does ----------------------------------------------------------------------

    def _where(self, message: s.Message) -> str:
        channel = self.h.standin.channel(message.channel_id)
        if channel is None:
            return "?"
        if channel.type == s.DM:
            return f"DM to {self.h.standin.users[channel.recipient_id or ''].username}"
        return f"#{channel.name}"

    def _name(self, user_id: str | None) -> str:
        user = self.h.standin.users.get(user_id or "")
        return user.username if user else str(user_id)

    def show(self, output: Output) -> None:
        message = output.message
        if output.kind in ("message", "dm", "response", "followup", "edit", "update") and message is not None:
            if message.flags & (1 << 7):
                return  # still thinking
            audience = ""
            if message.ephemeral and output.interaction_id:
                who = self.h.standin.interactions[output.interaction_id].user.username
                audience = f" (only {who} sees this)"
            text = readable(message_text(message), self.h.standin)
            # "!" marks every answer that is a refusal or a failure, as for the sandbox's own.
            mark = "! " if output.interaction_id in self.refused else ""
            # A message the bot edits on its own (an event's announcement as places fill) is the same
            # message: say so, or it reads as a new post each time.
            edited = " (edited)" if output.kind == "edit" and output.interaction_id is None else ""
            self.print(f"{mark}[{self._where(message)}] Conclave{audience}{edited}: {text}")
            for attachment in message.attachments:
                self.media_dir.mkdir(parents=True, exist_ok=True)
                path = self.media_dir / f"{attachment.id}-{attachment.filename}"
                path.write_bytes(attachment.data)
                self.print(f"  (attachment saved to {path})")
        elif output.kind == "modal":
            who = self.h.standin.interactions[output.interaction_id].user.username if output.interaction_id else "you"
            fields = forms.fields_of(output.data)
            self.print(f"[form for {who}] {output.data.get('title')}")
            for f in fields:
                self.print(f"  {f.describe()}")
            shown = [f for f in fields if f.required] or fields[:1]
            example = " ".join(f'{f.key}="…"' for f in shown)
            self.print(f"  answer with: {who} fills {example}   (or: {who} fills, for one field at a time)")
        elif output.kind in ("role_add", "role_remove"):
            verb = "gave" if output.kind == "role_add" else "took from"
            self.print(f"[roles] Conclave {verb} {self._name(output.data['user_id'])} the role {output.data['role']}")
        elif output.kind in ("kick", "ban", "unban"):
            reason = output.data.get("reason") or "no reason given"
            self.print(f"[moderation] {output.kind}: {self._name(output.data['user_id'])} ({reason})")
        elif output.kind == "member_update":
            changes = output.data.get("changes") or {}
            self.print(f"[moderation] {self._name(output.data['user_id'])}: {changes}")
        elif output.kind == "delete" and message is not None:
            self.print(f"[{self._where(message)}] (message by {message.author.username} deleted)")
        elif output.kind == "scheduled_event":
            self.print(f"[event] scheduled: {output.data.get('name')}")
        elif output.kind == "refused":  # what Discord would have refused: the member would see nothing
            data = output.data
            self.print(f"[discord refused] {data['method']} {data['path']}: 400 Invalid Form Body {data['errors']}")

    def print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    # -- what the person types -----------------------------------------------------------------

    def actor(self, name: str, *, create: bool = False) -> Actor:
        if name in self.h.demo.actors:
            return self.h.demo.actors[name]
        try:
            return self.h.demo.actor(name)
        except LookupError:
            if create:
                return self.h.demo.new_member(name)
            raise LookupError(f"nobody called {name!r} is in the server (try: members)") from None

    async def handle(self, line: str) -> bool:
        """Run one line; False when the person asked to quit. Nothing a person types stops the
        sandbox: what it cannot act on is answered in one line."""
        line = line.strip()
        if self.waiting is not None:
            try:
                if await self._answer_waiting(line):
                    return True
            except Exception as exc:  # the answer could not be used: say so, drop what waited
                self.waiting = None
                self._refused(exc)
                return True
        if not line or line.startswith("#"):
            return True
        if line in ("quit", "exit"):
            return False
        try:
            await self._line(line)
        except Exception as exc:
            self._refused(exc)
        return True

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, NotInServer):
            self.print(f"! {exc}: {_how_to_return(exc.name, banned=exc.banned)}")
        elif isinstance(exc, NoAnswer):
            self.print(f"! {exc} — Discord would show 'The application did not respond'")
        elif isinstance(exc, (LookupError, ValueError, InvalidInvocation)):
            self.print(f"! {str(exc).strip() or type(exc).__name__}")
        else:  # a fault of the sandbox itself: one line here, the details in the log
            log.debug("sandbox line failed", exc_info=exc)
            self.print(f"! that did not work: {type(exc).__name__}: {exc}")

    async def _line(self, line: str) -> None:
        if line == "help":
            self.print(HELP)
        elif line == "channels":
            channels = [c for c in self.h.standin.guild.channels.values() if c.type in (s.TEXT, s.VOICE)]
            names = [f"#{c.name}" if c.type == s.TEXT else f"{c.name} (voice)" for c in channels]
            self.print("channels: " + ", ".join(names))
        elif line == "members":
            self.print("members: " + ", ".join(m.user.username for m in self.h.standin.guild.members.values()))
        elif line.split()[0] == "wait":
            await asyncio.sleep(_seconds(line))
        else:
            await self._act(line)

    async def _act(self, line: str) -> None:
        action = ACTION.match(line)
        if action:
            await self._verb(action["who"], action["verb"], action["rest"].strip())
            return
        said = SAY.match(line)
        if not said:
            raise ValueError("I don't understand that line; type help")
        who = self.actor(said["who"])
        text = said["text"].strip()
        menu = MENU.match(text)
        if text.startswith("/"):
            await self._slash(who, text[1:], said["channel"])
        elif menu and menu["menu"] in self._message_menus():
            await self._menu(who, menu["menu"], menu["whom"])
        else:
            who.say(text, channel=said["channel"])
            await self.settle()

    # -- slash commands, options and autocomplete ------------------------------------------------

    async def _slash(self, who: Actor, text: str, channel: str | None) -> None:
        try:
            words = typed_words(text)
        except ValueError as exc:  # an unclosed quote
            raise ValueError(f"{exc} in that command") from None
        if not words:
            raise ValueError("a command after the / (type help)")
        if words[0] in self._message_menus():
            raise ValueError(
                f"{words[0]} is a message menu, not a slash command: {who.name}: {words[0]} on alice's last message"
            )
        command = who.command(words[0])
        path = [words[0]]
        rest = words[1:]
        while rest and ":" not in rest[0] and _subcommand(command, [*path, rest[0]]):
            path.append(rest.pop(0))
        definitions, _ = option_definitions(command, path)
        if any(d["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for d in definitions):
            subs = ", ".join(d["name"] for d in definitions)
            raise InvalidInvocation(f"/{' '.join(path)} needs one of: {subs}")
        options = _options(definitions, rest, f"/{' '.join(path)}")
        for name, value in options.items():
            said = LAST_MESSAGE.match(str(value))
            if said:  # a message id, as one copies it in Discord
                options[name] = self._last_message_of(said["whom"]).id
                self.print(f"  ({name}: {options[name]}, {said['whom']}'s last message)")
        await self._send(who, " ".join(path), options, channel, definitions)

    async def _send(
        self,
        who: Actor,
        path: str,
        options: dict[str, Any],
        channel: str | None,
        definitions: list[dict[str, Any]],
        picked: frozenset[str] = frozenset(),
    ) -> None:
        """Autocomplete each option that has it (as the client shows the suggestions while one
        types), then the command."""
        for definition in definitions:
            name = definition["name"]
            if not definition.get("autocomplete") or name not in options or name in picked:
                continue
            others = {k: v for k, v in options.items() if k != name}
            typed = str(options[name])
            if (path, name, typed) in self.suggested:  # a suggestion Tab offered, picked by its name
                options[name] = self.suggested[(path, name, typed)]
                picked = picked | {name}
                continue
            if definition["type"] in (INTEGER, NUMBER) and not _numeric(typed):
                # The client lets only a number (or a suggestion) be sent.
                raise InvalidInvocation(f"{name}: {typed!r} is not a number (type one, or start it and pick)")
            choices = await who.autocomplete(path, name, typed, **others)
            chosen = _chosen(choices, typed)
            if chosen is not None:
                if str(chosen["value"]) != typed:
                    self.print(f"  ({name}: {chosen['name']})")
                options[name] = chosen["value"]
            elif choices:
                self.print(f"  {name}: {len(choices)} match{'es' if len(choices) > 1 else ''} for {typed!r}:")
                for number, choice in enumerate(choices, 1):
                    self.print(f"    {number}. {choice['name']}")
                self.print("  type a number to choose one")
                self.waiting = ChoiceInProgress(who, path, options, name, choices, channel)
                return
            picked = picked | {name}
        reply = await who.slash(path, where=channel, **options)
        await self._opened(who, reply)
        await self.settle()

    async def _answer_waiting(self, line: str) -> bool:
        """The line answers what waits (a field, a choice): True when it was used."""
        waiting = self.waiting
        if isinstance(waiting, ChoiceInProgress):
            count = len(waiting.choices)
            if re.fullmatch(r"[-+]?\d+", line) and not 1 <= int(line) <= count:  # still waiting
                numbers = "1" if count == 1 else f"1 to {count}"
                self.print(f"! {line} is not one of the choices: type {numbers} (anything else drops /{waiting.path})")
                return True
            self.waiting = None
            if not line.isdigit():
                self.print(f"  (no choice made: /{waiting.path} was not sent)")
                return False
            choice = waiting.choices[int(line) - 1]
            waiting.options[waiting.option] = choice["value"]
            self.print(f"  ({waiting.option}: {choice['name']})")
            command = waiting.who.command(waiting.path.split()[0])
            definitions, _ = option_definitions(command, waiting.path.split())
            await self._send(
                waiting.who, waiting.path, waiting.options, waiting.channel, definitions, frozenset({waiting.option})
            )
            return True
        if isinstance(waiting, FormInProgress):
            if line.lower() in CANCEL:
                self.waiting = None
                self.print("  (form closed without sending it)")
                return True
            waiting.answers[waiting.current.custom_id] = line
            if len(waiting.answers) < len(waiting.fields):
                self._ask(waiting)
                return True
            self.waiting = None
            given = {f.custom_id: v for f, v in zip(waiting.fields, waiting.answers.values(), strict=True) if v}
            await self._submit(waiting.who, waiting.modal, given)
            return True
        return False

    # -- forms ------------------------------------------------------------------------------------

    async def _opened(self, who: Actor, reply: Reply) -> None:
        """After an answer: a form it opened is remembered (and asked field by field at a terminal)."""
        if reply.modal is None:
            return
        self.last_modal[who.name] = reply
        if self.interactive:
            self._start_form(who, reply)

    def _start_form(self, who: Actor, modal: Reply) -> None:
        assert modal.modal is not None
        form = FormInProgress(who, modal, forms.fields_of(modal.modal))
        self.waiting = form
        self.print(f"  (answer each field on its own line; an empty line leaves it empty, {CANCEL[0]} drops the form)")
        self._ask(form)

    def _ask(self, form: FormInProgress) -> None:
        self.print(f"  {form.current.describe()}:")

    async def _submit(self, who: Actor, modal: Reply, given: dict[str, str]) -> None:
        assert modal.modal is not None
        values = forms.answers_for(forms.fields_of(modal.modal), given, self.h.community.xp.timezone)
        self.last_modal.pop(who.name, None)
        reply = await who.submit(modal, values)
        await self._opened(who, reply)

    def _form_of(self, who: Actor) -> Reply:
        modal = self.last_modal.get(who.name)
        if modal is None:
            raise LookupError(f"the bot has not opened a form for {who.name}")
        return modal

    # -- message menus, buttons, voice, membership -----------------------------------------------

    def _message_menus(self) -> list[str]:
        standin = self.h.standin
        registered = standin.commands.get(standin.guild.id, []) + standin.commands.get(None, [])
        return [c["name"] for c in registered if c.get("type") == MESSAGE_MENU]

    def _last_message_of(self, whom: str) -> s.Message:
        for message in reversed(list(self.h.standin.messages.values())):
            if message.author.username == whom and not message.author.bot and not message.deleted:
                return message
        if not any(u.username == whom for u in self.h.standin.users.values()):
            self.actor(whom)  # nobody of that name: say so, as for anyone else typed
        raise LookupError(f"{whom} has not said anything yet")

    async def _menu(self, who: Actor, menu: str, whom: str) -> None:
        reply = await who.message_command(menu, self._last_message_of(whom))
        await self._opened(who, reply)
        await self.settle()

    async def _verb(self, name: str, verb: str, rest: str) -> None:
        if verb in ("joins", "leaves") and rest in ("", "the server"):
            known = self.h.demo.actors.get(name)
            if verb == "joins":
                if known is None:
                    self.actor(name, create=True)
                elif known.in_server:
                    raise ValueError(f"{name} is already in the server")
                elif known.id in self.h.standin.guild.bans:  # Discord keeps a banned user out
                    raise ValueError(f"{name} is banned from the server: {_unban_hint(name)} first")
                else:
                    known.rejoin_guild()
                self.print(f"* {name} joined the server")
            else:
                who = self.actor(name)
                if not who.in_server:
                    banned = who.id in self.h.standin.guild.bans
                    raise ValueError(f"{name} is not in the server ({'banned' if banned else 'left'})")
                who.leave_guild()
                self.print(f"* {name} left the server")
            await self.settle()
            return
        who = self.actor(name)
        voice = self.h.standin.guild.voice_states.get(who.id)
        if verb in ("clicks", "chooses") and not rest:
            raise ValueError(
                f"clicks what? the button's label, e.g. {name} clicks Next"
                if verb == "clicks"
                else f"chooses what? the menu and the values, e.g. {name} chooses <menu> <value>"
            )
        if verb == "joins" and rest.startswith("voice"):
            who.require_membership()
            if voice is not None:
                where = self.h.standin.channel(voice.channel_id)
                raise ValueError(f"{name} is in voice already ({where.name if where else '?'})")
            who.join_voice(self.h.demo.voice)
            self.print(f"* {name} joined voice ({self.h.demo.voice.name})")
        elif verb == "leaves" and rest.startswith("voice"):
            who.require_membership()
            if voice is None:
                raise ValueError(f"{name} is not in voice")
            who.leave_voice()
            self.print(f"* {name} left voice")
        elif verb in ("mutes", "unmutes"):
            who.set_voice(self_mute=verb == "mutes")
            self.print(f"* {name} {verb}")
        elif verb == "clicks":
            message = self._last_with(who, rest)
            await self._opened(who, await who.click(message, rest))
        elif verb == "chooses":
            custom_id, _, values = rest.partition(" ")
            message = self._last_with(who, custom_id)
            await who.choose(message, custom_id, [v for v in values.replace(",", " ").split() if v])
        elif verb in ("fills", "submits"):
            modal = self._form_of(who)
            if not rest:
                self._start_form(who, modal)
                return
            await self._submit(who, modal, answers(rest))
        else:
            raise ValueError("I don't understand that line; type help")
        await self.settle()

    def _sees(self, who: Actor, message: s.Message) -> bool:
        """Whether `who` can see the message: DMs to them, ephemeral answers to them, the channels."""
        channel = self.h.standin.channel(message.channel_id)
        if channel is not None and channel.type == s.DM:
            return channel.recipient_id == who.id
        if not who.in_server:  # the server's channels are closed to someone banned or gone
            return False
        if message.ephemeral and message.interaction_id:
            interaction = self.h.standin.interactions.get(message.interaction_id)
            return interaction is not None and interaction.user.id == who.id
        return True

    def _last_with(self, who: Actor, label_or_id: str) -> s.Message:
        for message in reversed(list(self.h.standin.messages.values())):
            if message.deleted or not self._sees(who, message):
                continue
            for row in message.components:
                if any(component_matches(c, label_or_id) for c in row.get("components", [])):
                    return message
        who.require_membership()  # nothing to click in their DMs: the server's messages are out of reach
        raise LookupError(f"no message {who.name} can see has a button or menu {label_or_id!r}")

    async def settle(self) -> None:
        """Give the bot a moment to act on what just happened, then until it goes quiet."""
        seen = len(self.h.standin.outputs)
        await asyncio.sleep(SETTLE_S)
        while len(self.h.standin.outputs) != seen:
            seen = len(self.h.standin.outputs)
            await asyncio.sleep(SETTLE_S)


def _unban_hint(name: str) -> str:
    return f"a moderator can unban them (mod: /mod unban user:{name})"


def _how_to_return(name: str, *, banned: bool) -> str:
    """How the person at the prompt brings someone back into the server."""
    if banned:
        return f"{_unban_hint(name)}, then: {name} joins"
    return f"to bring them back: {name} joins"


def _seconds(line: str) -> float:
    words = line.split()
    if len(words) == 1:
        return 1.0
    try:
        seconds = float(words[1])
    except ValueError:
        raise ValueError(f"wait takes a number of seconds, e.g. wait 2 (not {words[1]!r})") from None
    if not 0 <= seconds <= MAX_WAIT_S:
        raise ValueError(f"wait takes 0 to {MAX_WAIT_S:.0f} seconds")
    return seconds


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _subcommand(command: dict[str, Any], path: list[str]) -> bool:
    try:
        option_definitions(command, path)
    except LookupError:
        return False
    return True


def _options(definitions: list[dict[str, Any]], words: list[str], where: str) -> dict[str, Any]:
    """`name:value` words by name; bare words fill the options in order, as Discord's client does."""
    options: dict[str, Any] = {}
    names = [d["name"] for d in definitions]
    words = list(words)
    while words:
        word = words.pop(0)
        name, colon, value = word.partition(":")
        if colon and name in names:
            if not value and words:  # `reason: helped out` (a space after the colon): the next word
                value = words.pop(0)
            options[name] = value
            continue
        # `name:value` names an option; "a: b" (quoted, a space after the colon) is text for the next one
        if colon and value and not value[0].isspace() and re.fullmatch(r"[a-z_]+", name):
            raise InvalidInvocation(f"{where} has no option {name!r} (its options: {', '.join(names) or 'none'})")
        free = [n for n in names if n not in options]
        if not free:
            raise InvalidInvocation(f"{where} takes no more options (it has {', '.join(names) or 'none'})")
        options[free[0]] = word
    return options


def _chosen(choices: list[dict[str, Any]], typed: str) -> dict[str, Any] | None:
    """The choice the typed text stands for: its value or its name, or the one suggestion there is
    when it contains what was typed. Suggestions of free text (each one's value is its name, e.g.
    reasons) leave what was typed as it is, as Discord sends it."""
    for choice in choices:
        if str(choice["value"]) == typed or choice["name"].casefold() == typed.casefold():
            return choice
    if all(str(c["value"]) == c["name"] for c in choices):
        return {"name": typed, "value": typed}
    if len(choices) == 1 and typed.casefold() in choices[0]["name"].casefold():
        return choices[0]
    return None


async def _lines(interactive: bool) -> asyncio.Queue[str | None]:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def reader() -> None:
        while True:
            try:
                line = input("> ") if interactive else sys.stdin.readline()
            except EOFError:
                line = ""
            if not line and not interactive:
                loop.call_soon_threadsafe(queue.put_nowait, None)
                return
            loop.call_soon_threadsafe(queue.put_nowait, line)

    # A daemon thread: a blocked input() must not keep the process alive after `quit`.
    threading.Thread(target=reader, name="sandbox-input", daemon=True).start()
    return queue


async def run_sandbox(config: Config) -> int:
    quiet = max(logging.WARNING, logging.getLogger().level)
    for name in ("", "discord", "bot", "db"):
        logging.getLogger(name).setLevel(quiet)
    if config.settings.database_url:
        print("(the sandbox always uses its own embedded database; DATABASE_URL is left alone)")
    database = await open_database(None, config.data_dir, name=SANDBOX_DATABASE)
    await recreate_database(database.dsn)
    harness = await Harness.create(database.dsn, config.data_dir, database)
    harness.community = harness.demo.furnish_for_sandbox()
    interactive = sys.stdin.isatty()
    sandbox = Sandbox(harness, sys.stdout, Path("sandbox-output"), interactive=interactive)
    if interactive:
        completion.install(completion.Completer(harness, asyncio.get_running_loop(), sandbox.suggested))
    try:
        await harness.start_bot()
        print(f"Sandbox ready: {harness.standin.guild.name} with alice, bob, carol and mod. Type help for help.")
        queue = await _lines(interactive)
        while True:
            line = await queue.get()
            if line is None or not await sandbox.handle(line):
                break
    finally:
        sandbox.close()
        await harness.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(database.close)
    print("Sandbox closed.")
    return 0

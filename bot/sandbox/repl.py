"""`python -m bot sandbox`: the bot against the local stand-in with a demo guild, driven from a prompt
(or from standard input when it is not a terminal, so it can be scripted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import sys
import threading
from pathlib import Path
from typing import TextIO

from bot.config import Config
from bot.sandbox import state as s
from bot.sandbox.control import Actor, InvalidInvocation
from bot.sandbox.harness import Harness
from bot.sandbox.render import message_text
from bot.sandbox.replies import NoAnswer, Reply
from bot.sandbox.server import Output
from db.pool import open_database, recreate_database

log = logging.getLogger(__name__)

SANDBOX_DATABASE = "conclave_sandbox"
SETTLE_S = 0.3

HELP = """\
Type lines as a member of the demo server (members: alice, bob, carol, and mod, a moderator):
  alice: hello everyone              say something in #general
  alice in #gaming-chat: gg          say something in another channel
  alice: /about                      use a slash command
  mod: /tools echo text:"hi there"   subcommands and options as name:value (quote spaces)
  bob clicks Next                    click a button on the last message that has it
  bob chooses fruit banana           pick values in a select menu (by custom id)
  bob submits answer=42              fill in the last form the bot opened
  bob joins voice | bob leaves voice | bob mutes | bob unmutes
  dora joins | dora leaves           someone joins or leaves the server
  wait 2                             let two seconds pass
  channels | members | help | quit
"""

MENTION = re.compile(r"<@!?(\d+)>")
SAY = re.compile(r"^(?P<who>[\w.-]+)(?:\s+in\s+#(?P<channel>[\w-]+))?:\s*(?P<text>.+)$")
ACTION = re.compile(
    r"^(?P<who>[\w.-]+)\s+(?P<verb>clicks|chooses|submits|joins|leaves|mutes|unmutes)\b\s*(?P<rest>.*)$"
)


class Sandbox:
    def __init__(self, harness: Harness, out: TextIO, media_dir: Path) -> None:
        self.h = harness
        self.out = out
        self.media_dir = media_dir
        self.last_modal: dict[str, Reply] = {}
        harness.standin.observers.append(self.show)

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
            text = MENTION.sub(lambda m: "@" + self._name(m.group(1)), message_text(message))
            self.print(f"[{self._where(message)}] Conclave{audience}: {text}")
            for attachment in message.attachments:
                self.media_dir.mkdir(parents=True, exist_ok=True)
                path = self.media_dir / f"{attachment.id}-{attachment.filename}"
                path.write_bytes(attachment.data)
                self.print(f"  (attachment saved to {path})")
        elif output.kind == "modal":
            fields = [self._modal_field(row) for row in output.data.get("components", [])]
            self.print(f"[form] {output.data.get('title')}: {', '.join(fields)}")
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

    @staticmethod
    def _modal_field(row: dict) -> str:
        component = row.get("component") or (row.get("components") or [{}])[0]
        return f"{component.get('custom_id')} ({component.get('label') or row.get('label') or 'text'})"

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
        """Run one line; False when the person asked to quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line in ("quit", "exit"):
            return False
        if line == "help":
            self.print(HELP)
            return True
        if line == "channels":
            channels = [c for c in self.h.standin.guild.channels.values() if c.type in (s.TEXT, s.VOICE)]
            names = [f"#{c.name}" if c.type == s.TEXT else f"{c.name} (voice)" for c in channels]
            self.print("channels: " + ", ".join(names))
            return True
        if line == "members":
            self.print("members: " + ", ".join(m.user.username for m in self.h.standin.guild.members.values()))
            return True
        if line.startswith("wait"):
            await asyncio.sleep(float(line.split()[1]) if len(line.split()) > 1 else 1.0)
            return True
        try:
            await self._act(line)
        except (LookupError, ValueError, InvalidInvocation) as exc:
            self.print(f"! {exc}")
        except NoAnswer as exc:
            self.print(f"! {exc} — Discord would show 'The application did not respond'")
        return True

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
        if text.startswith("/"):
            await self._slash(who, text[1:], said["channel"])
        else:
            who.say(text, channel=said["channel"])
            await self.settle()

    async def _slash(self, who: Actor, text: str, channel: str | None) -> None:
        words = shlex.split(text)
        path = [w for w in words if ":" not in w]
        options = dict(w.split(":", 1) for w in words if ":" in w)
        reply = await who.slash(" ".join(path), where=channel, **options)
        if reply.modal is not None:
            self.last_modal[who.name] = reply
        await self.settle()

    async def _verb(self, name: str, verb: str, rest: str) -> None:
        if verb in ("joins", "leaves") and rest in ("", "the server"):
            if verb == "joins":
                if name in self.h.demo.actors:
                    self.actor(name).rejoin_guild()
                else:
                    self.actor(name, create=True)
                self.print(f"* {name} joined the server")
            else:
                self.actor(name).leave_guild()
                self.print(f"* {name} left the server")
            await self.settle()
            return
        who = self.actor(name)
        if verb == "joins" and rest.startswith("voice"):
            who.join_voice(self.h.demo.voice)
            self.print(f"* {name} joined voice ({self.h.demo.voice.name})")
        elif verb == "leaves" and rest.startswith("voice"):
            who.leave_voice()
            self.print(f"* {name} left voice")
        elif verb in ("mutes", "unmutes"):
            who.set_voice(self_mute=verb == "mutes")
            self.print(f"* {name} {verb}")
        elif verb == "clicks":
            message = self._last_with(rest)
            reply = await who.click(message, rest)
            if reply.modal is not None:
                self.last_modal[who.name] = reply
        elif verb == "chooses":
            custom_id, _, values = rest.partition(" ")
            message = self._last_with(custom_id)
            await who.choose(message, custom_id, [v for v in values.replace(",", " ").split() if v])
        elif verb == "submits":
            modal = self.last_modal.pop(who.name, None)
            if modal is None:
                raise LookupError(f"the bot has not opened a form for {name}")
            values = dict(part.strip().split("=", 1) for part in rest.split(";") if "=" in part)
            await who.submit(modal, values)
        else:
            raise ValueError("I don't understand that line; type help")
        await self.settle()

    def _last_with(self, label_or_id: str) -> s.Message:
        for message in reversed(list(self.h.standin.messages.values())):
            for row in message.components:
                for component in row.get("components", []):
                    if label_or_id in (component.get("label"), component.get("custom_id")):
                        return message
        raise LookupError(f"no message has a button or menu {label_or_id!r}")

    async def settle(self) -> None:
        """Give the bot a moment to act on what just happened, then until it goes quiet."""
        seen = len(self.h.standin.outputs)
        await asyncio.sleep(SETTLE_S)
        while len(self.h.standin.outputs) != seen:
            seen = len(self.h.standin.outputs)
            await asyncio.sleep(SETTLE_S)


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
    sandbox = Sandbox(harness, sys.stdout, Path("sandbox-output"))
    interactive = sys.stdin.isatty()
    try:
        await harness.start_bot()
        print(f"Sandbox ready: {harness.standin.guild.name} with alice, bob, carol and mod. Type help for help.")
        queue = await _lines(interactive)
        while True:
            line = await queue.get()
            if line is None or not await sandbox.handle(line):
                break
    finally:
        await harness.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(database.close)
    print("Sandbox closed.")
    return 0

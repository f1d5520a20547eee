"""Tab completion at the sandbox's prompt (readline): member names and the sandbox's own words first,
then the verbs after a name, and after `name: /` the commands, their subcommands and options
(`member:` completes to the server's members, options with choices to those choices)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from standin.control import MESSAGE_MENU, SUB_COMMAND, SUB_COMMAND_GROUP, option_definitions

try:  # Python has readline where it was built with it (not on Windows)
    import readline
except ImportError:  # pragma: no cover - depends on the Python build
    readline = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from bot.sandbox.harness import Harness

log = logging.getLogger(__name__)

VERBS = ("clicks", "chooses", "fills", "submits", "joins", "leaves", "mutes", "unmutes")
OWN_WORDS = ("help", "channels", "members", "wait", "quit")
MEMBER_OPTIONS = (6, 9)  # USER, MENTIONABLE
SLASH = re.compile(r"^(?P<who>[\w.-]+)(?:\s+in\s+#[\w-]+)?:\s*/(?P<rest>.*)$")


class Completer:
    def __init__(self, harness: Harness) -> None:
        self.h = harness

    def members(self) -> list[str]:
        return sorted(m.user.username for m in list(self.h.standin.guild.members.values()) if not m.user.bot)

    def commands(self) -> dict[str, dict[str, Any]]:
        standin = self.h.standin
        registered = standin.commands.get(standin.guild.id, []) + standin.commands.get(None, [])
        return {c["name"]: c for c in registered if c.get("type", 1) != MESSAGE_MENU}

    def candidates(self, typed: str) -> list[str]:
        """What the last word of `typed` (the line up to the cursor) may become, sorted."""
        try:
            return sorted(set(self._candidates(typed)))
        except Exception:  # the bot changes what the completer reads (another thread): no completion
            log.debug("no completion for %r", typed, exc_info=True)
            return []

    def _candidates(self, typed: str) -> list[str]:
        *before, last = typed.split(" ")
        slash = SLASH.match(typed)
        if slash:
            return self._slash(slash["rest"].split(" "))
        if not before:
            return [w for w in (*self.members(), *OWN_WORDS) if w.startswith(last)]
        if len(before) == 1 and before[0] in self.members():
            return [v for v in VERBS if v.startswith(last)]
        return []

    def _slash(self, words: list[str]) -> list[str]:
        *given, last = words
        commands = self.commands()
        if not given:
            return [f"/{name}" for name in commands if name.startswith(last)]
        command = commands.get(given[0])
        if command is None:
            return []
        path = [given[0]]
        for word in given[1:]:
            try:
                option_definitions(command, [*path, word])
            except LookupError:
                break
            path.append(word)
        options, _ = option_definitions(command, path)
        if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in options):
            return [o["name"] for o in options if o["name"].startswith(last)]
        name, colon, value = last.partition(":")
        if not colon:
            taken = {w.partition(":")[0] for w in given if ":" in w}
            return [f"{o['name']}:" for o in options if o["name"].startswith(last) and o["name"] not in taken]
        option = next((o for o in options if o["name"] == name), None)
        if option is None:
            return []
        if option["type"] in MEMBER_OPTIONS:
            values = self.members()
        else:
            values = [str(c["value"]) for c in option.get("choices", [])]
        return [f"{name}:{v}" for v in values if v.startswith(value)]


def install(completer: Completer) -> bool:
    """Tab completes at the prompt (where Python has readline); False where it has none."""
    if readline is None:
        return False
    readline.set_completer_delims(" \t\n")
    readline.parse_and_bind("tab: complete")

    def complete(text: str, state: int) -> str | None:
        found = completer.candidates(readline.get_line_buffer()[: readline.get_endidx()])
        return found[state] if state < len(found) else None

    readline.set_completer(complete)
    return True

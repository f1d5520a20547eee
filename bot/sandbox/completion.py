"""Tab completion at the sandbox's prompt (readline): member names and the sandbox's own words first,
then the verbs after a name, and after `name: /` the commands, their subcommands and options
(`member:` completes to the server's members, options with choices to those choices, and an option
that autocompletes to what the bot suggests, as Discord's client asks it while one types)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

from bot.sandbox.words import words as typed_words
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
CHOICES_MAX = 25  # Discord shows at most 25 autocomplete suggestions
ASK_TIMEOUT_S = 3.0  # the bot has 3 seconds to answer an autocomplete


class Completer:
    """`loop`: the event loop the bot runs on, asked from the prompt's thread for an option's
    suggestions. `suggested`: where each suggestion offered is kept ((command path, option, name) ->
    value), so the line sent with a suggestion's name sends its value, as Discord's client does."""

    def __init__(
        self,
        harness: Harness,
        loop: asyncio.AbstractEventLoop | None = None,
        suggested: dict[tuple[str, str, str], Any] | None = None,
    ) -> None:
        self.h = harness
        self.loop = loop
        self.suggested = suggested if suggested is not None else {}

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
            return self._slash(slash["who"], slash["rest"])
        if not before:
            return [w for w in (*self.members(), *OWN_WORDS) if w.startswith(last)]
        if len(before) == 1 and before[0] in self.members():
            return [v for v in VERBS if v.startswith(last)]
        return []

    def _slash(self, who: str, rest: str) -> list[str]:
        given, last = split_typed(rest)
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
        if option.get("autocomplete"):
            others = dict(w.partition(":")[::2] for w in given[len(path) :] if ":" in w)
            return [f"{name}:{quoted(s)}" for s in self._suggestions(who, " ".join(path), name, value, others)]
        if option["type"] in MEMBER_OPTIONS:
            values = self.members()
        else:
            values = [str(c["value"]) for c in option.get("choices", [])]
        return [f"{name}:{v}" for v in values if v.startswith(value)]

    def _suggestions(self, who: str, path: str, option: str, typed: str, others: dict[str, str]) -> list[str]:
        """The names of the bot's suggestions for what is typed (at most 25, as Discord shows), asked
        on the bot's loop from the prompt's thread; none when the bot does not answer in time."""
        actor = self.h.demo.actors.get(who)
        if self.loop is None or actor is None or not actor.in_server:
            return []
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is self.loop:
                return []  # on the bot's own loop: waiting here would stop it answering
        others = {k: self.suggested.get((path, k, v), v) for k, v in others.items()}
        choices: list[dict[str, Any]] = []
        for context in (others, {}):  # the other options as typed so far; alone, when they do not resolve yet
            future = asyncio.run_coroutine_threadsafe(
                actor.autocomplete(path, option, typed, timeout=ASK_TIMEOUT_S, **context), self.loop
            )
            try:
                choices = future.result(ASK_TIMEOUT_S + 1)
                break
            except Exception:
                future.cancel()
                log.debug("no suggestions for %s %s=%r", path, option, typed, exc_info=True)
        names = []
        for choice in choices[:CHOICES_MAX]:
            self.suggested[(path, option, choice["name"])] = choice["value"]
            names.append(choice["name"])
        return names


def split_typed(text: str) -> tuple[list[str], str]:
    """The words before the cursor, and the one being typed (a quote it opened left open: its text)."""
    try:
        found = typed_words(text)
    except ValueError:  # `event:"Game n`: the value being typed
        found = typed_words(text + '"')
        return found[:-1], found[-1]
    if not found or text[-1:].isspace():
        return found, ""
    return found[:-1], found[-1]


def quoted(value: str) -> str:
    """A value as typed at the prompt: in quotes when it holds spaces or quotes."""
    if value and not re.search(r"[\s\"']", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _word_start(typed: str) -> int:
    """Where the word being typed starts: after the last space outside quotes."""
    start, quote = 0, None
    for i, char in enumerate(typed):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "\"'" and (i == 0 or typed[i - 1] in ":= "):
            quote = char
        elif char.isspace():
            start = i + 1
    return start


def install(completer: Completer) -> bool:
    """Tab completes at the prompt (where Python has readline); False where it has none."""
    if readline is None:
        return False
    readline.set_completer_delims(" \t\n")
    readline.parse_and_bind("tab: complete")

    def complete(text: str, state: int) -> str | None:
        typed = readline.get_line_buffer()[: readline.get_endidx()]
        # Readline replaces only what follows the last space; a candidate replaces the whole word
        # being typed (`event:"Game n` holds a space), so what precedes readline's part is cut off.
        raw = typed[len(typed) - len(typed.lstrip()) :]
        raw = raw[_word_start(raw) :]
        before = raw[: len(raw) - len(text)]
        found = [c[len(before) :] for c in completer.candidates(typed) if c.startswith(before)]
        return found[state] if state < len(found) else None

    readline.set_completer(complete)
    return True

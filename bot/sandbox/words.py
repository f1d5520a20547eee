"""How the sandbox splits a typed line into words, as a person means them: spaces separate words,
quotes ("…" or '…') at the start of a word or of its value (after `name:` or `field=`) group spaces,
and an apostrophe inside a word is a letter ("X's last message", "don't"). `;` outside quotes may
separate form answers (the older `a=1; b=2`); inside quotes it is text like any other."""

from __future__ import annotations

import re

SEPARATOR = ";"
LAST_MESSAGE_WORDS = ("last", "message")


def words(text: str, *, separators: bool = False) -> list[str]:
    """The words of `text`; with `separators`, a `;` outside quotes is a word of its own (SEPARATOR).
    An unclosed quote raises ValueError."""
    out: list[str] = []
    current: list[str] = []
    started = False  # a word is open (even an empty quoted one: "")
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\" and quote == '"' and i + 1 < len(text) and text[i + 1] in '"\\':
                current.append(text[i + 1])
                i += 2
                continue
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char.isspace():
            if started:
                out.append("".join(current))
                current, started = [], False
        elif separators and char == SEPARATOR:
            if started:
                out.append("".join(current))
                current, started = [], False
            out.append(SEPARATOR)
        elif char in "\"'" and (not current or current[-1] in ":="):
            quote = char
            started = True
        else:
            current.append(char)
            started = True
        i += 1
    if quote is not None:
        raise ValueError(f"a {quote} quote is not closed")
    if started:
        out.append("".join(current))
    return _last_messages(out)


def _last_messages(found: list[str]) -> list[str]:
    """`alice's last message` typed without quotes is one value, as it is with them."""
    out: list[str] = []
    i = 0
    while i < len(found):
        word = found[i]
        if re.search(r"[\w.-]'s$", word) and tuple(found[i + 1 : i + 3]) == LAST_MESSAGE_WORDS:
            out.append(f"{word} last message")
            i += 3
            continue
        out.append(word)
        i += 1
    return out


def answers(rest: str) -> dict[str, str]:
    """`title="Game night" start="…"` (or the older `a=1; b=2`, whose values may hold spaces) as
    {field: value}; a `;` in quotes stays in its value."""
    found = words(rest, separators=True)
    if SEPARATOR in found:
        parts, group = [], []
        for word in [*found, SEPARATOR]:
            if word == SEPARATOR:
                if group:
                    parts.append(" ".join(group))
                group = []
            else:
                group.append(word)
    else:
        parts = found
    result = {}
    for part in parts:
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"answer a form as field=value (not {part!r}); fields are named by their label")
        result[name.strip()] = value.strip()
    return result

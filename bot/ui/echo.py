"""What the bot shows of text a member typed (or a website wrote): markdown escaped and cut to a
bound, so an echo can neither break the layout nor push a message past Discord's limits."""

from __future__ import annotations

import discord

ECHO_MAX = 100  # characters of typed text repeated in a sentence (a name, an id, a value)


def echo(text: str, limit: int = ECHO_MAX) -> str:
    """`text` as a reply repeats it: markdown escaped, at most `limit` characters ("…" where cut)."""
    shown = discord.utils.escape_markdown(text)
    if len(shown) <= limit:
        return shown
    cut = shown[: limit - 1]
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]  # never leave half an escape to swallow the ellipsis
    return cut + "…"

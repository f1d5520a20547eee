"""The plain grey button every paged message uses (leaderboard, history, achievements, events), so
each persistent button class only says what its custom id holds."""

from __future__ import annotations

import discord


def page_button(custom_id: str, label: str, *, disabled: bool = False) -> discord.ui.Button:
    return discord.ui.Button(label=label, disabled=disabled, style=discord.ButtonStyle.secondary, custom_id=custom_id)

"""The "Warn" and "Note" message context menus: a case about a message, with the message as evidence
(its channel, id, link and an excerpt), the reason asked in a modal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.checks import STAFF_DEFAULT_PERMISSIONS, require_staff
from bot.core.errors import BadInput, report
from bot.ui.echo import echo

if TYPE_CHECKING:
    from cogs.moderation.commands import ModerationCommands

EXCERPT = 500  # characters of the message kept with the case


class CaseModal(discord.ui.Modal):
    def __init__(self, cog: ModerationCommands, kind: str, message: discord.Message) -> None:
        super().__init__(title=f"{kind.capitalize()} {message.author.display_name}"[:45])
        self.cog, self.kind, self.message = cog, kind, message
        self.reason = discord.ui.TextInput(label="Reason", style=discord.TextStyle.paragraph, max_length=4000)
        self.add_item(self.reason)
        self.points: discord.ui.TextInput | None = None
        if kind == "warn":
            self.points = discord.ui.TextInput(label="Points (empty: the default)", required=False, max_length=3)
            self.add_item(self.points)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        points = None
        if self.points is not None and self.points.value.strip():
            if not self.points.value.strip().isdigit():
                raise BadInput(f"'{echo(self.points.value, 10)}' is not a number of points.")
            points = int(self.points.value.strip())
        evidence: dict[str, Any] = {
            "channel_id": str(self.message.channel.id),
            "message_id": str(self.message.id),
            "evidence": [self.message.jump_url],
            "message_excerpt": self.message.content[:EXCERPT],
        }
        await self.cog.act_on_message(interaction, self.kind, self.message, self.reason.value, points, evidence)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error, f"modal {self.kind} on a message")


def message_menus(cog: ModerationCommands) -> list[app_commands.ContextMenu]:
    """The menus, hidden from members by default like /mod."""
    menus = []
    for kind in ("warn", "note"):
        menu = app_commands.ContextMenu(name=kind.capitalize(), callback=_opener(cog, kind))
        menu.guild_only = True
        menu.default_permissions = STAFF_DEFAULT_PERMISSIONS
        menus.append(menu)
    return menus


def _opener(cog: ModerationCommands, kind: str):  # noqa: ANN202  (a context-menu callback)
    async def opened(interaction: discord.Interaction, message: discord.Message) -> None:
        require_staff(interaction, "moderate")
        if not isinstance(message.author, discord.Member):
            raise BadInput("That message's author is no longer in the server.")
        cog.check(interaction, kind, message.author)
        await interaction.response.send_modal(CaseModal(cog, kind, message))

    return opened

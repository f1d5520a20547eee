"""/notifications: a member's unread notifications (the guide's notifications table, which the
website shows too), five a page, with Older / Newest, Mark these read and Mark all read buttons.
Everything is the clicking member's own: the buttons carry no member id."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import reported
from bot.ui.achievements import inbox_embed
from db import notifications

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

PAGE = 5


async def inbox_message(
    bot: ConclaveBot, user: discord.abc.User, before: int | None = None
) -> tuple[discord.Embed, discord.ui.View]:
    user_id = await bot.identity.user_id(user)
    async with bot.pool.acquire() as conn:
        items = await notifications.unread(conn, user_id, before=before, limit=PAGE + 1)
        unread = await notifications.unread_count(conn, user_id)
    more = len(items) > PAGE
    items = items[:PAGE]
    embed = inbox_embed(items, unread=unread)
    view = discord.ui.View(timeout=None)
    shown = ".".join(str(n.id) for n in items)
    view.add_item(InboxButton("b", "", label="◀ Newest", disabled=before is None))
    view.add_item(InboxButton("o", str(items[-1].id) if items else "", label="Older ▶", disabled=not more))
    view.add_item(InboxButton("r", shown, label="Mark these read", disabled=not items))
    view.add_item(InboxButton("a", "", label="Mark all read", disabled=unread == 0))
    return embed, view


class InboxButton(discord.ui.DynamicItem[discord.ui.Button], template=r"inbox:(?P<act>[bora]):(?P<arg>[\d.]*)"):  # type: ignore[call-arg]
    """b: the newest page; o: the page older than id `arg`; r: mark the ids in `arg` read; a: all."""

    def __init__(self, action: str, arg: str, *, label: str, disabled: bool = False) -> None:
        self.action, self.arg = action, arg
        style = discord.ButtonStyle.primary if action in "ra" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(label=label, style=style, disabled=disabled, custom_id=f"inbox:{action}:{arg}"[:100])
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> InboxButton:
        return cls(match["act"], match["arg"], label=item.label or "")

    @reported("notifications button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        before = None
        if self.action in "ra":
            user_id = await bot.identity.user_id(interaction.user)
            ids = [int(i) for i in self.arg.split(".") if i] if self.action == "r" else None
            await notifications.mark_read(bot.pool, user_id, ids)
        elif self.action == "o" and self.arg:
            before = int(self.arg)
        embed, view = await inbox_message(bot, interaction.user, before)
        await interaction.response.edit_message(embed=embed, view=view)


class Inbox(commands.Cog):
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot

    @app_commands.command(name="notifications", description="Your unread notifications (achievements and more)")
    async def notifications(self, interaction: discord.Interaction) -> None:
        embed, view = await inbox_message(self.bot, interaction.user)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    async def cleanup(self) -> int:
        """Remove expired notifications (daily, on the scheduler)."""
        return await notifications.cleanup_expired(self.bot.pool)

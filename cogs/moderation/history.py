"""/mod history's message: a member's cases newest first, their active warning points, and Older /
Newer buttons that page by case number (the page is in the button's custom id, so the buttons keep
working after a restart)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.core.checks import require_staff
from bot.core.errors import reported
from bot.ui.buttons import page_button
from bot.ui.moderation import history_embed
from db import moderation

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


async def history_message(
    bot: ConclaveBot, user_id: str, name: str, *, before: int | None = None, after: int | None = None
) -> tuple[discord.Embed, discord.ui.View]:
    async with bot.pool.acquire() as conn:
        page = await moderation.history_page(conn, str(bot.guild_id), user_id, before=before, after=after)
    cases = page.cases
    embed = history_embed(name, cases, points=page.active_points, first_page=before is None and after is None)
    view = discord.ui.View(timeout=None)
    newest, oldest = (cases[0].number, cases[-1].number) if cases else (0, 0)
    view.add_item(HistoryButton(user_id, "n", newest, label="◀ Newer", disabled=not page.has_newer))
    view.add_item(HistoryButton(user_id, "o", oldest, label="Older ▶", disabled=not page.has_older))
    return embed, view


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"modh:(?P<uid>[\w-]+):(?P<dir>[no]):(?P<cursor>\d+)",
):  # type: ignore[call-arg]
    """n: the page of cases newer than the cursor; o: the page older than it."""

    def __init__(self, user_id: str, direction: str, cursor: int, *, label: str, disabled: bool = False) -> None:
        self.user_id, self.direction, self.cursor = user_id, direction, cursor
        super().__init__(page_button(f"modh:{user_id}:{direction}:{cursor}", label, disabled=disabled))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> HistoryButton:
        return cls(match["uid"], match["dir"], int(match["cursor"]), label=item.label or "")

    @reported("moderation history button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        require_staff(interaction, "read moderation history")
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        name = _title_of(interaction)
        older = self.direction == "o"
        embed, view = await history_message(
            bot, self.user_id, name, before=self.cursor if older else None, after=None if older else self.cursor
        )
        await interaction.response.edit_message(embed=embed, view=view)


def _title_of(interaction: discord.Interaction) -> str:
    """The member's name as the first page showed it (the title carries it)."""
    embeds = interaction.message.embeds if interaction.message else []
    title = embeds[0].title if embeds and embeds[0].title else ""
    prefix = "Moderation history of "
    return discord.utils.remove_markdown(title[len(prefix) :]) if title.startswith(prefix) else "the member"

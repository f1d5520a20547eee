"""Ratings: when an event completes, its attendees get a DM with a Rate button (it keeps working after
a restart); the form takes 1-5 and optional feedback. `/event rate` does the same. Only attendees
may rate; a second rating replaces the first. The average shows on /event info with the host's
record across their completed events."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import asyncpg
import discord

from bot.core.errors import BadInput, NotAllowed, NotFound, report, reported
from bot.ui.embeds import bounded_title
from db import events, outbox
from db.events import Event

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


def rate_custom_id(event_id: str) -> str:
    return f"evrate:{event_id}"


async def invite_ratings(conn: asyncpg.Connection, event: Event) -> int:
    """At completion: each attendee is asked for a rating by DM (through the outbox)."""
    asked = 0
    button = {"type": 2, "style": 1, "label": "Rate", "custom_id": rate_custom_id(event.id)}
    for r in await events.registrants(conn, event.id, statuses=("attended",)):
        embed = discord.Embed(
            title=bounded_title(f"How was {event.title}?"),
            description="Thanks for coming! Rate it from 1 to 5 (and tell the host anything you like).",
            colour=0x5865F2,
        )
        payload = {
            "user_id": r.discord_id,
            "content": None,
            "embeds": [embed.to_dict()],
            "components": [{"type": 1, "components": [button]}],
        }
        asked += await outbox.enqueue(conn, "dm", payload, dedupe_key=f"event-rate:{event.id}:{r.user_id}") is not None
    return asked


class RateModal(discord.ui.Modal):
    def __init__(self, event: Event) -> None:
        super().__init__(title=f"Rate {event.title}"[:45])
        self.event = event
        self.stars = discord.ui.TextInput(label="Rating, 1 to 5", max_length=1)
        self.comments = discord.ui.TextInput(
            label="Anything to tell the host? (optional)",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=1000,
        )
        self.add_item(self.stars)
        self.add_item(self.comments)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        value = self.stars.value.strip()
        if value not in ("1", "2", "3", "4", "5"):
            raise BadInput("A rating is a whole number from 1 to 5.")
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        user_id = await bot.identity.user_id(interaction.user)
        status = await events.rate(bot.pool, self.event.id, user_id, int(value), self.comments.value.strip() or None)
        if status != "attended":
            raise NotAllowed("Only members who attended can rate an event.")
        await interaction.response.send_message(
            f"Thanks: you rated **{discord.utils.escape_markdown(self.event.title)}** {value}/5.", ephemeral=True
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error, "event rating form")


async def open_rating(interaction: discord.Interaction, event_id: str) -> None:
    """The rating form, for an attendee of a completed event."""
    bot: ConclaveBot = interaction.client  # type: ignore[assignment]
    event = await events.get(bot.pool, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    if event.status != "completed":
        raise BadInput("Ratings open once the event is over.")
    user_id = await bot.identity.user_id(interaction.user)
    statuses = {r.user_id: r.status for r in await events.registrants(bot.pool, event_id, statuses=("attended",))}
    if statuses.get(user_id) != "attended":
        raise NotAllowed("Only members who attended can rate an event.")
    await interaction.response.send_modal(RateModal(event))


class RateButton(discord.ui.DynamicItem[discord.ui.Button], template=r"evrate:(?P<event>[0-9a-f-]{36})"):  # type: ignore[call-arg]
    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(
            discord.ui.Button(label="Rate", style=discord.ButtonStyle.primary, custom_id=rate_custom_id(event_id))
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> RateButton:
        return cls(match["event"])

    @reported("event rating button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        await open_rating(interaction, self.event_id)

"""Replies that outlive their interaction: Discord lets an app edit its reply and send followups for
15 minutes after the interaction (the token's life), then answers 401 `50027 Invalid Webhook Token`.
A long command (a backfill) keeps the member informed past that by a message of the bot's own: a DM
to the member, else a message in the channel, mentioning them."""

from __future__ import annotations

import logging
from typing import Any

import discord

log = logging.getLogger(__name__)

INVALID_WEBHOOK_TOKEN = 50027
LATE_NOTE = "-# Discord lets me edit a reply for 15 minutes only, so the rest of this comes here."


def token_expired(error: discord.HTTPException) -> bool:
    """Discord's answer to a followup or an edit after the interaction token's 15 minutes."""
    return error.code == INVALID_WEBHOOK_TOKEN or error.status == 401


# Why a reply came by DM when Discord would not let the bot answer privately where it was asked.
ELSEWHERE_NOTE = "-# Discord would not let me answer you privately there, so this comes here."


def late_text(interaction: discord.Interaction[Any], content: str, *, in_channel: bool, note: str = LATE_NOTE) -> str:
    mention = f"{interaction.user.mention} " if in_channel else ""
    return f"{mention}{content}\n{note}"


async def tell_elsewhere(
    interaction: discord.Interaction[Any], content: str, *, public: bool = False, note: str = LATE_NOTE
) -> discord.Message | None:
    """`content` where the member will see it once the interaction's reply can't be touched: by DM;
    with `public=True` only (for what the channel may read), else in the interaction's channel
    mentioning them. None if it could not be sent: private content never falls back to the channel."""
    try:
        return await interaction.user.send(late_text(interaction, content, in_channel=False, note=note))
    except discord.HTTPException as error:
        if not public:
            log.info("late reply: no DM for %s (%s); private, so not in the channel", interaction.user.id, error.status)
            return None
        log.info("late reply: no DM for %s (%s); trying the channel", interaction.user.id, error.status)
    channel = interaction.channel
    if isinstance(channel, discord.abc.Messageable):
        try:
            return await channel.send(
                late_text(interaction, content, in_channel=True, note=note),
                allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=[interaction.user]),
            )
        except discord.HTTPException as error:
            log.warning("late reply to %s could not be delivered (%s)", interaction.user.id, error.status)
    return None


class Progress:
    """A long command's reply, kept up to date: edits of the interaction's reply while the token
    lives, then one message of the bot's own (see tell_elsewhere), edited from then on. `public`:
    the reply was public, so the channel may carry the rest when the member's DMs are closed."""

    def __init__(self, interaction: discord.Interaction[Any], *, public: bool = False) -> None:
        self.interaction = interaction
        self.public = public
        self.elsewhere: discord.Message | None = None

    async def show(self, content: str) -> None:
        if self.elsewhere is None:
            try:
                await self.interaction.edit_original_response(content=content)
                return
            except discord.HTTPException as error:
                if not token_expired(error):
                    raise
            log.info("interaction %s outlived its token; its progress moves to a message", self.interaction.id)
            self.elsewhere = await tell_elsewhere(self.interaction, content, public=self.public)
            return
        try:
            in_channel = self.elsewhere.guild is not None
            await self.elsewhere.edit(content=late_text(self.interaction, content, in_channel=in_channel))
        except discord.HTTPException as error:
            log.warning("could not update the progress of interaction %s (%s)", self.interaction.id, error.status)

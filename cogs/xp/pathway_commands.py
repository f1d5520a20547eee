"""/pathway join | leave | list | primary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import BadInput
from bot.ui.echo import echo
from bot.ui.embeds import BRAND
from cogs.xp import membership
from cogs.xp.engine import XPEngine
from db import pathways

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

PathwayName = app_commands.Range[str, 1, 100]  # a pathway's id or name, as typed


class PathwayCommands(commands.Cog):
    pathway = app_commands.Group(name="pathway", description="Join and leave the community's pathways", guild_only=True)

    def __init__(self, bot: ConclaveBot, engine: XPEngine) -> None:
        self.bot = bot
        self.engine = engine

    def _resolve(self, value: str) -> str:
        """A pathway id from an id or a display name, or a clear refusal."""
        wanted = value.strip().lower()
        for p in self.bot.config.community.pathways:
            if wanted in (p.id, p.name.lower()):
                return p.id
        names = ", ".join(p.name for p in self.bot.config.community.pathways)
        raise BadInput(f"There is no pathway called '{echo(value)}'. The pathways are: {names}.")

    def _name(self, pathway_id: str) -> str:
        config = self.bot.config.community.pathway(pathway_id)
        return config.name if config else pathway_id

    async def _choices(
        self, interaction: discord.Interaction, current: str, *, joined: bool | None
    ) -> list[app_commands.Choice[str]]:
        mine = self.engine.joined.get(interaction.user.id, set())
        current = current.lower()
        return [
            app_commands.Choice(name=p.name, value=p.id)
            for p in self.bot.config.community.pathways
            if (current in p.name.lower() or current in p.id) and (joined is None or (p.id in mine) == joined)
        ][:25]

    async def _not_joined(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current, joined=False)

    async def _joined(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current, joined=True)

    @pathway.command(name="join", description="Join a pathway: earn its XP by chatting in its channels")
    @app_commands.describe(pathway="the pathway to join")
    @app_commands.autocomplete(pathway=_not_joined)
    async def join(self, interaction: discord.Interaction, pathway: PathwayName) -> None:
        pathway_id = self._resolve(pathway)
        member = interaction.user
        assert isinstance(member, discord.Member)
        if await membership.join(self.bot, self.engine, member, pathway_id, by_role=False):
            await interaction.response.send_message(f"Welcome to the {self._name(pathway_id)}!", ephemeral=True)
        else:
            await interaction.response.send_message(f"You are already in the {self._name(pathway_id)}.", ephemeral=True)

    @pathway.command(name="leave", description="Leave a pathway (your XP in it is kept)")
    @app_commands.describe(pathway="the pathway to leave")
    @app_commands.autocomplete(pathway=_joined)
    async def leave(self, interaction: discord.Interaction, pathway: PathwayName) -> None:
        pathway_id = self._resolve(pathway)
        member = interaction.user
        assert isinstance(member, discord.Member)
        if await membership.leave(self.bot, self.engine, member, pathway_id, by_role=False):
            await interaction.response.send_message(
                f"You left the {self._name(pathway_id)}. Your XP there is kept if you come back.",
                ephemeral=True,
            )
        else:
            await interaction.response.send_message(f"You are not in the {self._name(pathway_id)}.", ephemeral=True)

    @pathway.command(name="list", description="The pathways, and the ones you have joined")
    async def list_pathways(self, interaction: discord.Interaction) -> None:
        user_id = await self.bot.identity.user_id(interaction.user)
        joined, primary = await pathways.membership(self.bot.pool, user_id)
        embed = discord.Embed(title="Pathways", colour=BRAND)
        for p in self.bot.config.community.pathways:
            state = "★ primary" if p.id == primary else ("joined" if p.id in joined else "not joined")
            embed.add_field(name=p.name, value=state)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @pathway.command(name="primary", description="Choose which joined pathway is your main one")
    @app_commands.describe(pathway="one of your pathways")
    @app_commands.autocomplete(pathway=_joined)
    async def primary(self, interaction: discord.Interaction, pathway: PathwayName) -> None:
        pathway_id = self._resolve(pathway)
        user_id = await self.bot.identity.user_id(interaction.user)
        if not await pathways.set_primary(self.bot.pool, user_id, pathway_id):
            raise BadInput(f"Join the {self._name(pathway_id)} first (/pathway join).")
        await interaction.response.send_message(
            f"The {self._name(pathway_id)} is now your primary pathway.", ephemeral=True
        )

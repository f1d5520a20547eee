"""Staff XP commands: /xp give | take | set | reset | reverse | import | curve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.checks import STAFF_DEFAULT_PERMISSIONS, staff_only
from bot.core.errors import BadInput, NotAllowed
from bot.rules.progression import level_start_xp, next_level_xp
from bot.ui.echo import echo
from bot.ui.embeds import BRAND
from cogs.xp.adjustments import adjust, reverse_message
from cogs.xp.engine import XPEngine
from cogs.xp.importing import import_command

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

PathwayChoice = Literal["gaming", "lorebound", "productive", "news"]
Amount = app_commands.Range[int, 1, 1_000_000]
Reason = app_commands.Range[str, 3, 300]


class StaffXP(commands.Cog):
    # Hidden from members by default (server admins can widen it under Integrations); the staff
    # check on the server is what decides.
    xp = app_commands.Group(
        name="xp",
        description="Staff: change members' XP (every change is logged)",
        guild_only=True,
        default_permissions=STAFF_DEFAULT_PERMISSIONS,
    )

    def __init__(self, bot: ConclaveBot, engine: XPEngine) -> None:
        self.bot = bot
        self.engine = engine

    async def _run(
        self,
        interaction: discord.Interaction,
        action: str,
        member: discord.Member,
        amount: int,
        pathway: str | None,
        reason: str,
    ) -> None:
        if member.bot:
            raise BadInput("Bots don't have XP.")
        actor = interaction.user
        assert isinstance(actor, discord.Member)
        if member.id == actor.id:
            raise NotAllowed("You can't change your own XP; ask another staff member.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await adjust(self.bot, self.engine, member, actor, action, amount, pathway, reason)
        where = f" in {self.bot.config.community.pathway(pathway).name}" if pathway else ""  # type: ignore[union-attr]
        await interaction.followup.send(
            f"{member.display_name}: {outcome.before:,} → {outcome.after:,} XP{where}. Logged with your reason.",
            ephemeral=True,
        )

    @xp.command(name="give", description="Give a member XP")
    @app_commands.describe(member="who", amount="how much XP", pathway="also in this pathway", reason="why (logged)")
    @staff_only("change XP")
    async def give(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: Amount,
        reason: Reason,
        pathway: PathwayChoice | None = None,
    ) -> None:
        await self._run(interaction, "give", member, amount, pathway, reason)

    @xp.command(name="take", description="Take XP from a member (never below zero)")
    @app_commands.describe(member="who", amount="how much XP", pathway="from this pathway", reason="why (logged)")
    @staff_only("change XP")
    async def take(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: Amount,
        reason: Reason,
        pathway: PathwayChoice | None = None,
    ) -> None:
        await self._run(interaction, "take", member, amount, pathway, reason)

    @xp.command(name="set", description="Set a member's XP to an exact amount")
    @app_commands.describe(member="who", amount="the new XP total", pathway="in this pathway", reason="why (logged)")
    @staff_only("change XP")
    async def set_xp(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 0, 1_000_000],
        reason: Reason,
        pathway: PathwayChoice | None = None,
    ) -> None:
        await self._run(interaction, "set", member, amount, pathway, reason)

    @xp.command(name="reset", description="Reset a member's XP to zero (globally, or in one pathway)")
    @app_commands.describe(member="who", pathway="only this pathway", reason="why (logged)")
    @staff_only("change XP")
    async def reset(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: Reason,
        pathway: PathwayChoice | None = None,
    ) -> None:
        await self._run(interaction, "reset", member, 0, pathway, reason)

    @xp.command(name="reverse", description="Take back the XP one message earned (e.g. spam)")
    @app_commands.describe(message_id="the message's id (right click → Copy Message ID)", reason="why (logged)")
    @staff_only("change XP")
    async def reverse(
        self, interaction: discord.Interaction, message_id: app_commands.Range[str, 1, 30], reason: Reason = "reversed"
    ) -> None:
        if not message_id.strip().isdigit():
            raise BadInput(f"'{echo(message_id, 40)}' is not a message id: it should be a long number.")
        actor = interaction.user
        assert isinstance(actor, discord.Member)
        await interaction.response.defer(ephemeral=True, thinking=True)
        _, outcome = await reverse_message(self.bot, self.engine, actor, message_id.strip(), reason)
        await interaction.followup.send(
            f"Reversed {outcome.before - outcome.after:,} XP: {outcome.before:,} → {outcome.after:,}.",
            ephemeral=True,
        )

    @xp.command(name="import", description="Import levels from another bot (MEE6, Lurkr, Amari, Polaris, CSV)")
    @app_commands.describe(
        file="the export file (JSON, or CSV with id and xp or level), up to 25 MB",
        source="the bot that made it",
        by="keep each member's level (default) or copy their XP",
        dry_run="show what would happen, write nothing",
        members_only="skip members who are not in the server",
    )
    @staff_only("import XP")
    async def import_xp(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        source: Literal["mee6", "lurkr", "amari", "polaris", "csv"],
        by: Literal["level", "xp"] = "level",
        dry_run: bool = False,
        members_only: bool = False,
    ) -> None:
        await import_command(self.bot, self.engine, interaction, file, source, by, dry_run, members_only)

    @xp.command(name="curve", description="How much XP the first levels need")
    @staff_only("see the XP curve")
    async def curve(self, interaction: discord.Interaction) -> None:
        lines = []
        for level in range(1, 16):
            span = next_level_xp(level) - level_start_xp(level)
            lines.append(f"Level {level}: from {level_start_xp(level):,} XP, {span:,} XP to the next")
        embed = discord.Embed(
            title="XP curve: level = floor(√(XP / 100)) + 1", colour=BRAND, description="\n".join(lines)
        )
        xp_rules = self.bot.config.community.xp
        embed.set_footer(
            text=f"{xp_rules.message_min}–{xp_rules.message_max} XP a message (once per "
            f"{xp_rules.cooldown_seconds:.0f} s), {xp_rules.voice_per_minute} a voice minute"
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

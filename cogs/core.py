"""The core: /about, chat activity, and keeping members' rows in step with the guild."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__, doctor
from bot.checks import STAFF_DEFAULT_PERMISSIONS, is_staff, staff_only
from bot.errors import BadInput, NotAllowed, NotFound
from bot.ui.embeds import about_embed, add_health_fields, dead_letters_embed
from db import admin_logs, dead_letters, privacy, users

Reason = app_commands.Range[str, 3, 300]

if TYPE_CHECKING:
    from bot.client import ConclaveBot

log = logging.getLogger(__name__)


class Core(commands.Cog):
    deadletter = app_commands.Group(
        name="deadletter",
        description="Staff: writes the database refused (see also python -m bot doctor)",
        guild_only=True,
        default_permissions=STAFF_DEFAULT_PERMISSIONS,
    )

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot

    @deadletter.command(name="list", description="The writes the database refused, oldest first")
    @staff_only("see refused writes")
    async def deadletter_list(self, interaction: discord.Interaction) -> None:
        pending = await dead_letters.pending(self.bot.pool, limit=10)
        total = await dead_letters.count_pending(self.bot.pool)
        await interaction.response.send_message(embed=dead_letters_embed(pending, total), ephemeral=True)

    @deadletter.command(name="replay", description="Write a refused write again (e.g. after fixing the cause)")
    @app_commands.describe(letter_id="its number in /deadletter list", reason="why (logged)")
    @staff_only("replay refused writes")
    async def deadletter_replay(
        self, interaction: discord.Interaction, letter_id: app_commands.Range[int, 1], reason: Reason
    ) -> None:
        await self._resolve(interaction, letter_id, "replay", reason)

    @deadletter.command(name="discard", description="Give up a refused write (it stays on record)")
    @app_commands.describe(letter_id="its number in /deadletter list", reason="why (logged)")
    @staff_only("discard refused writes")
    async def deadletter_discard(
        self, interaction: discord.Interaction, letter_id: app_commands.Range[int, 1], reason: Reason
    ) -> None:
        await self._resolve(interaction, letter_id, "discard", reason)

    async def _resolve(self, interaction: discord.Interaction, letter_id: int, action: str, reason: str) -> None:
        actor = interaction.user
        admin_id = await self.bot.identity.user_id(actor)
        if action == "replay":
            await self._resolve_member_of(letter_id)
        async with self.bot.pool.acquire() as conn:
            try:
                done = await doctor.resolve(
                    conn,
                    letter_id,
                    action,
                    self.bot.config.community.xp.timezone,
                    actor.name,
                    admin_id=admin_id,
                    reason=reason,
                )
            except doctor.ReplayRefused as refused:
                raise BadInput(f"Dead letter {letter_id}: {refused}.") from None
        await interaction.response.send_message(f"Dead letter {letter_id}: {done}.", ephemeral=True)

    async def _resolve_member_of(self, letter_id: int) -> None:
        """A member's write replayed from Discord goes to their current users row: one deleted
        behind the bot (e.g. by the website) is made again for a member still in the server."""
        letter = await dead_letters.get(self.bot.pool, letter_id)
        discord_id = letter.payload.get("discord_id") if letter is not None else None
        guild = self.bot.home_guild
        known = str(discord_id or "").isdigit()
        member = guild.get_member(int(str(discord_id))) if guild is not None and known else None
        if member is not None:
            await self.bot.identity.refresh(member)

    @app_commands.command(name="about", description="What this bot is and how it is doing")
    async def about(self, interaction: discord.Interaction) -> None:
        bot = self.bot
        latency = bot.latency
        embed = about_embed(
            version=__version__,
            uptime_seconds=bot.uptime(),
            database=bot.database.kind if bot.database else "unknown",
            latency_ms=None if latency != latency or latency == float("inf") else latency * 1000,
            members=bot.home_guild.member_count if bot.home_guild else None,
        )
        staff = interaction.guild_id == bot.guild_id and is_staff(interaction.user, bot.config.community)
        if staff:  # the operations summary (what the Prometheus endpoint serves), for staff only
            add_health_fields(embed, bot.metrics.summary(), len(bot.analytics))
        await interaction.response.send_message(embed=embed, ephemeral=staff)

    @app_commands.command(name="mydata", description="Everything the community keeps about you, as a file by DM")
    @app_commands.checks.cooldown(1, 3600)
    async def mydata(self, interaction: discord.Interaction) -> None:
        user_id = await self.bot.identity.user_id(interaction.user)
        async with self.bot.pool.acquire() as conn:
            data = await privacy.member_data(conn, user_id)
            await admin_logs.log_admin_action(
                conn,
                admin_id=user_id,
                action="data_export",
                target_type="user",
                target_id=user_id,
                previous_value=None,
                new_value={"sections": sorted(data)},
                reason="/mydata",
            )
        body = json.dumps(data, indent=2, default=str, ensure_ascii=False).encode()
        name = f"conclave-data-{interaction.user.id}.json"
        try:
            await interaction.user.send(
                "Everything The Conclave Realm's bot keeps about you.", file=discord.File(io.BytesIO(body), name)
            )
        except discord.Forbidden:  # DMs closed: the file here instead, for their eyes only
            await interaction.response.send_message(
                "Your DMs are closed, so here it is (only you can see this).",
                file=discord.File(io.BytesIO(body), name),
                ephemeral=True,
            )
            return
        await interaction.response.send_message("Sent to you by DM.", ephemeral=True)

    @app_commands.command(
        name="erase", description="Admins: remove a member's personal data (their cases stay, pseudonymised)"
    )
    @app_commands.describe(member="whose data", reason="why (kept in admin_logs)")
    @app_commands.default_permissions(administrator=True)
    @app_commands.guild_only()
    async def erase(
        self, interaction: discord.Interaction, member: discord.User, reason: app_commands.Range[str, 1, 500]
    ) -> None:
        actor = interaction.user
        if (
            interaction.guild_id != self.bot.guild_id
            or not isinstance(actor, discord.Member)
            or not actor.guild_permissions.administrator
        ):
            raise NotAllowed("Only the server's administrators can erase a member's data.")
        if member.id == actor.id or member.bot:
            raise BadInput("Erase another member's data (not your own, not a bot's).")
        admin_id = await self.bot.identity.user_id(actor)
        async with self.bot.pool.acquire() as conn, conn.transaction():
            user_id = await users.user_id_for(conn, str(member.id))
            if user_id is None:
                raise NotFound("The community keeps nothing about that member.")
            try:
                changed = await privacy.erase(conn, user_id)
            except privacy.SanctionInForce:
                raise BadInput(
                    "A ban, timeout or mute is in force for that member: erase their data once it ends."
                ) from None
            await admin_logs.log_admin_action(
                conn,
                admin_id=admin_id,
                action="erasure",
                target_type="user",
                target_id=user_id,
                previous_value={"erased": False},
                new_value={"erased": True, **changed},
                reason=reason,
            )
        self.bot.identity.forget(member.id)  # their next message starts a fresh row
        await interaction.response.send_message(
            f"Erased the personal data of that member ({changed['cases_pseudonymised']} case(s) kept, pseudonymised).",
            ephemeral=True,
        )

    async def cog_load(self) -> None:
        self.bot.message_hooks.append(self.count_chat)

    async def cog_unload(self) -> None:
        self.bot.message_hooks.remove(self.count_chat)

    def count_chat(self, message: discord.Message) -> None:
        """A message hook (see ConclaveBot.on_message: member chat only): count it, in memory."""
        self.bot.chat_activity.message(message.author, message.created_at)  # type: ignore[arg-type]

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        if member.guild.id == self.bot.guild_id and not member.bot:
            user_id, returning = await self.bot.identity.joined(member)
            self.bot.analytics.record(
                "member_join", user_id=user_id, category="members", action="return" if returning else "new"
            )
            if returning:
                # Other features react to the recorded transition, never to the raw event: their
                # handlers would otherwise race this one for what "returning" means.
                self.bot.dispatch("member_returned", member, user_id)

    @commands.Cog.listener()
    async def on_member_remove(self, member: discord.Member) -> None:
        if member.guild.id == self.bot.guild_id:
            user_id = await self.bot.identity.left(member)
            if not member.bot:
                self.bot.analytics.record("member_leave", user_id=user_id, discord_id=member.id, category="members")
            if user_id is not None and not member.bot:
                self.bot.dispatch("member_departed", member, user_id)

    @commands.Cog.listener()
    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command | app_commands.ContextMenu
    ) -> None:
        """Every command that ran to the end: its latency (from the interaction's creation) and a
        command_used analytics row."""
        self.bot.metrics.observe_interaction((discord.utils.utcnow() - interaction.created_at).total_seconds())
        self.bot.analytics.record(
            "command_used", discord_id=interaction.user.id, category="commands", label=command.qualified_name
        )

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if after.guild.id != self.bot.guild_id or after.bot:
            return
        if (before.roles, before.nick, before.premium_since, before.name) != (
            after.roles,
            after.nick,
            after.premium_since,
            after.name,
        ):
            await self.bot.identity.refresh(after)


async def setup(bot: ConclaveBot) -> None:
    await bot.add_cog(Core(bot))

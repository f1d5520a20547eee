"""The core: /about, chat activity, and keeping members' rows in step with the guild."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.core.checks import STAFF_DEFAULT_PERMISSIONS, is_staff, staff_only
from bot.core.errors import BadInput, NotAllowed, NotFound
from bot.core.identity import resolve_user
from bot.core.leadership import describe
from bot.ops import doctor
from bot.ui.embeds import about_embed, add_health_fields, add_leadership_fields, dead_letters_embed
from bot.ui.upload import DM_LIMIT, Upload, megabytes
from bot.writes import journal
from bot.writes.activity import ChatCount
from db import admin_logs, dead_letters, leader, privacy, users

Reason = app_commands.Range[str, 3, 300]
MYDATA_COOLDOWN_S = 3600  # one export an hour, counted from the last one delivered

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from bot.core.doors import XPDoor

log = logging.getLogger(__name__)


def _packed(file: discord.File) -> str:
    """What a member needs to know of a compressed file."""
    if not file.filename.endswith(".gz"):
        return ""
    return "\nIt is gzip-compressed to fit Discord's upload limit: open it with any unzip tool (or `gunzip`)."


class Core(commands.Cog):
    deadletter = app_commands.Group(
        name="deadletter",
        description="Staff: writes the database refused (see also python -m bot doctor)",
        guild_only=True,
        default_permissions=STAFF_DEFAULT_PERMISSIONS,
    )

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        # Members whose /mydata is being prepared right now (so two clicks make one export): one id
        # per export in flight, removed when it ends.
        self._exporting: set[int] = set()

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
            if bot.leadership is not None:  # several processes on one database: who leads, the last changes
                guild = str(bot.guild_id)
                lease, changes = await leader.current(bot.pool, guild), await leader.history(bot.pool, guild, limit=3)
                add_leadership_fields(embed, *describe(lease, changes))
        await interaction.response.send_message(embed=embed, ephemeral=staff)

    @app_commands.command(name="mydata", description="Everything the community keeps about you, as a file by DM")
    async def mydata(self, interaction: discord.Interaction) -> None:
        # Eight queries, an audit write and a DM take longer than Discord's 3 seconds under load:
        # acknowledge first (the member sees "thinking"), answer within the token's 15 minutes.
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.user.id in self._exporting:
            raise BadInput("Your data is on its way already.")
        self._exporting.add(interaction.user.id)
        try:
            await self._export(interaction)
        finally:
            self._exporting.discard(interaction.user.id)

    async def _export(self, interaction: discord.Interaction) -> None:
        user_id = await self.bot.identity.user_id(interaction.user)
        async with self.bot.pool.acquire() as conn:
            # The hour is counted from the last export delivered (admin_logs has one row each), so
            # a delivery that failed spends nothing and a restart forgets nothing.
            since = await admin_logs.seconds_since(conn, admin_id=user_id, action="data_export")
            if since is not None and since < MYDATA_COOLDOWN_S:
                raise BadInput(f"Slow down: you can use this again in {MYDATA_COOLDOWN_S - since:.0f} s.")
            data = await privacy.member_data(conn, user_id)
        body = json.dumps(data, indent=2, default=str, ensure_ascii=False).encode()
        upload = Upload(body, f"conclave-data-{interaction.user.id}.json")
        most = max(DM_LIMIT, interaction.filesize_limit)  # a DM's limit, or this server's (boosts)
        if await upload.fitting(most) is None:
            raise BadInput(
                f"Your data is {megabytes(await upload.smallest())} even compressed, more than Discord lets "
                f"me send ({megabytes(most)}), so I couldn't deliver it. Nothing was counted: "
                "please ask the staff for a copy."
            )
        delivered = await self._deliver(interaction, upload)
        if delivered is None:
            raise BadInput(
                "I couldn't deliver your data file (Discord refused both the DM and this reply). "
                "Nothing was counted: try again in a minute."
            )
        try:
            await admin_logs.log_admin_action(
                self.bot.pool,
                admin_id=user_id,
                action="data_export",
                target_type="user",
                target_id=user_id,
                previous_value=None,
                new_value={"sections": sorted(data), "delivered": delivered},
                reason="/mydata",
            )
        except Exception:  # the member has the file: tell them so, and leave the gap in the log
            log.exception("a /mydata export was delivered (%s) but not recorded in admin_logs", delivered)
        if delivered == "dm":
            await interaction.followup.send("Sent to you by DM.", ephemeral=True)

    async def _deliver(self, interaction: discord.Interaction, upload: Upload) -> str | None:
        """The file by DM, or else here for the member's eyes only (gzipped where only that fits
        Discord's upload limit): where it went, None if nowhere."""
        file = await upload.file(DM_LIMIT)
        if file is None:
            why = "The file is too large for a DM"
        else:
            try:
                text = f"Everything The Conclave Realm's bot keeps about you.{_packed(file)}"
                await interaction.user.send(text, file=file)
                return "dm"
            except discord.HTTPException as error:
                why = "Your DMs are closed" if isinstance(error, discord.Forbidden) else "I couldn't DM you"
                log.info("/mydata: no DM for %s (%s); the file goes in the reply", interaction.user.id, error.status)
        file = await upload.file(interaction.filesize_limit)
        if file is None:
            log.warning("/mydata: the file for %s fits no reply here", interaction.user.id)
            return None
        try:
            await interaction.followup.send(
                f"{why}, so here it is (only you can see this).{_packed(file)}", file=file, ephemeral=True
            )
            return "reply"
        except discord.HTTPException as error:
            log.warning("/mydata: the file could not be delivered to %s (%s)", interaction.user.id, error.status)
            return None

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
        member = await resolve_user(self.bot, member)  # typed as an id: someone who left
        if member.id == actor.id or member.bot:
            raise BadInput("Erase another member's data (not your own, not a bot's).")
        admin_id = await self.bot.identity.user_id(actor)
        await interaction.response.defer(ephemeral=True, thinking=True)  # a flush under way is waited for
        xp = self.bot.doors.xp
        async with contextlib.AsyncExitStack() as held:
            # What is still in memory for them goes too (else the next flush writes it to a fresh row):
            # under the XP engine's lock, then the chat counts' (bot/core/locks.py), no flush has any of it.
            if xp is not None:
                await held.enter_async_context(xp.lock)
            await held.enter_async_context(self.bot.chat_activity.writing)
            changed = await self._erase(member, admin_id, reason, xp)
            self.bot.identity.forget(member.id)  # their next message starts a fresh row
        await interaction.followup.send(
            f"Erased the personal data of that member ({changed['cases_pseudonymised']} case(s) kept, pseudonymised).",
            ephemeral=True,
        )

    async def _erase(self, member: discord.abc.User, admin_id: str, reason: str, xp: XPDoor | None) -> dict[str, Any]:
        """The erasure, in one transaction, with what memory held for them (put back if it fails)."""
        dropped = xp.drop_pending(member.id) if xp is not None else self.bot.chat_activity.drop(member.id)
        try:
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
                # What an outage left on disk for them goes too (the journal is written once the database answers).
                changed["journal_records"] = journal.erase_member(
                    self.bot.config.data_dir / "journal", str(member.id), user_id
                )
                changed["memory_dropped"] = {
                    "grants": sum(1 for d in dropped if not isinstance(d, ChatCount)),
                    "messages": sum(d.messages for d in dropped if isinstance(d, ChatCount)),
                }
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
        except BaseException:
            if xp is not None:
                xp.keep_pending(dropped)
            else:
                self.bot.chat_activity.put_back(dropped)  # type: ignore[arg-type]
            raise
        # Erased: what else memory holds of them goes (their analytics rows keep the counts only, a
        # partial voice minute and attendance minutes are not credited to a fresh row).
        self.bot.analytics.forget_member(member.id, user_id)
        if xp is not None:
            xp.forget_voice(member.id)
        for hook in self.bot.erase_hooks:
            hook(member.id, user_id)
        return changed

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
            joined = await self.bot.identity.joined(member)
            if not joined.first:
                return  # recorded by the other process told of it (a handover: both gateways are open)
            action = "return" if joined.returning else "new"
            self.bot.analytics.record("member_join", user_id=joined.user_id, category="members", action=action)
            if joined.returning:
                # Other features react to the recorded transition, never to the raw event: their
                # handlers would otherwise race this one for what "returning" means.
                self.bot.dispatch("member_returned", member, joined.user_id)

    @commands.Cog.listener()
    async def on_member_remove(self, member: discord.Member) -> None:
        if member.guild.id == self.bot.guild_id:
            user_id = await self.bot.identity.left(member)
            # None: not in the server by the records (another process recorded this departure, at a handover)
            if user_id is not None and not member.bot:
                self.bot.analytics.record("member_leave", user_id=user_id, discord_id=member.id, category="members")
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

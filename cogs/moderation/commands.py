"""/mod: warn, note, timeout, untimeout, kick, ban, unban, history, case show. Staff of the home guild
only; every target checked (self, the bot, the owner, role hierarchy, the bot's own permission and
role) before anything is written, and every refusal logged with who tried what."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.checks import STAFF_DEFAULT_PERMISSIONS, above_actor, is_staff, staff_only
from bot.core.errors import BadInput, NotAllowed, NotFound
from bot.core.identity import resolve_user
from bot.rules.moderation import DurationError, Party, capped_timeout, format_duration, parse_duration, why_not
from bot.ui.echo import echo
from bot.ui.moderation import EMBED_TOTAL_MAX, FIELD_MAX, case_embed, revisions_field, revisions_file
from cogs.moderation.cases import CaseError, edit_case, void_case
from cogs.moderation.evidence import message_menus
from cogs.moderation.history import history_message
from cogs.moderation.in_discord import IN_DISCORD
from cogs.moderation.lifecycle import Action, mute_role_powers, reapply_mute, record
from cogs.moderation.purge import purge
from cogs.moderation.refusals import REFUSABLE, Outcomes
from db import moderation, users

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

Reason = app_commands.Range[str, 1, 4000]
# The Discord permission each action needs from the bot (checked before anything is written).
BOT_PERMISSION = {
    "timeout": ("moderate_members", "Timeout Members"),
    "untimeout": ("moderate_members", "Timeout Members"),
    "kick": ("kick_members", "Kick Members"),
    "ban": ("ban_members", "Ban Members"),
    "unban": ("ban_members", "Ban Members"),
    "mute": ("manage_roles", "Manage Roles"),
    "unmute": ("manage_roles", "Manage Roles"),
    "purge": ("manage_messages", "Manage Messages"),
}
PURGE_SCAN = 1000  # how far back /mod purge looks in the channel for the member's messages
# Case numbers are PostgreSQL integers: Discord's client refuses anything larger before the bot sees it.
CaseNumber = app_commands.Range[int, 1, 2**31 - 1]
OWN_CASE = "Nobody changes a case about themselves: ask another moderator."


def _party(user: discord.abc.User) -> Party:
    top = user.top_role.position if isinstance(user, discord.Member) else 0
    return Party(user.id, top, is_bot=user.bot)


async def reason_suggestions(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The configured reasons, then the server's most used recent ones, containing what is typed."""
    bot: ConclaveBot = interaction.client  # type: ignore[assignment]
    if not is_staff(interaction.user, bot.config.community):
        return []
    typed = (current or "").strip()
    presets = [r for r in bot.config.community.moderation.reasons if typed.lower() in r.lower()]
    used = await moderation.common_reasons(bot.pool, str(bot.guild_id), typed)
    seen: dict[str, None] = dict.fromkeys([*presets, *used])
    return [app_commands.Choice(name=r, value=r) for r in list(seen)[:25]]


def require_level(
    bot: ConclaveBot, interaction: discord.Interaction, action: str, *, refusal: str | None = None
) -> None:
    """The configured staff level of an action (moderation.action_roles), if any: administrators and
    holders of the listed roles pass; others get `refusal` (where "{plain}" stands for the default,
    which says who may), logged."""
    allowed = bot.config.community.moderation.action_roles.get(action)  # type: ignore[call-overload]
    actor = interaction.user
    if not allowed or not isinstance(actor, discord.Member) or actor.guild_permissions.administrator:
        return
    if not any(actor.get_role(role_id) for role_id in allowed):
        guild = bot.home_guild
        names = [r.name for r in (guild.get_role(i) for i in allowed) if r is not None] if guild else []
        who = ", ".join(names) or "other staff"
        log.info("moderation refused: %s (%s) tried %s: not their staff level", actor, actor.id, action)
        plain = f"Only {who} may {action} (moderation.action_roles)."
        raise NotAllowed(refusal.replace("{plain}", plain.removesuffix(".")) if refusal else plain)


class ModerationCommands(commands.Cog):
    mod = app_commands.Group(
        name="mod",
        description="Staff: moderation (every action is a numbered case)",
        guild_only=True,
        default_permissions=STAFF_DEFAULT_PERMISSIONS,
    )
    case = app_commands.Group(name="case", description="Staff: one moderation case", parent=mod)

    def __init__(self, bot: ConclaveBot, outcomes: Outcomes | None = None) -> None:
        self.bot = bot
        self.menus = message_menus(self)
        self.outcomes = outcomes if outcomes is not None else Outcomes()

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)
        self.outcomes.close()

    async def act_on_message(
        self,
        interaction: discord.Interaction,
        kind: str,
        message: discord.Message,
        reason: str,
        points: int | None,
        evidence: dict,
    ) -> None:
        """A case from a message's context menu (the modal's answer), the message kept as evidence."""
        self.check(interaction, kind, message.author)
        await self._act(
            interaction, Action(kind, message.author, interaction.user, reason, points=points, context=evidence)
        )

    # -- checks ------------------------------------------------------------------------------

    def check(self, interaction: discord.Interaction, action: str, target: discord.abc.User) -> None:
        """Raise the refusal the moderator sees, logged, before anything is written."""
        self.check_level(interaction, action)
        guild = self.bot.home_guild
        assert guild is not None and guild.me is not None
        permission, name = BOT_PERMISSION.get(action, ("view_channel", "View Channels"))
        refusal = None
        if target.bot and target.id != guild.me.id:
            refusal = "Bots are moderated by the admins who added them, not with /mod."
        else:
            refusal = why_not(
                _party(interaction.user),
                _party(target),
                _party(guild.me),
                owner_id=guild.owner_id or 0,
                bot_has_permission=getattr(guild.me.guild_permissions, permission),
                permission_name=name,
            )
        if refusal is not None:
            log.info(
                "moderation refused: %s (%s) tried %s on %s: %s",
                interaction.user,
                interaction.user.id,
                action,
                target.id,
                refusal,
            )
            raise NotAllowed(refusal)

    def check_level(self, interaction: discord.Interaction, action: str) -> None:
        require_level(self.bot, interaction, action)

    async def check_case_change(self, interaction: discord.Interaction, number: int) -> None:
        """Who may edit or void a case: staff at the `case` level and at the level of the case's own
        action (voiding a ban lifts it, so only those who may ban), and never the member it is about
        (not even an administrator or the owner: a case about oneself is for someone else to judge)."""
        self.check_level(interaction, "case")
        case = await moderation.case_by_number(self.bot.pool, str(self.bot.guild_id), number)
        if case is None:
            return  # said by the change itself ("There is no case #N.")
        if case.metadata.get("target_discord_id") == str(interaction.user.id):
            actor = interaction.user
            log.info("moderation refused: %s (%s) tried to change case #%d about themselves", actor, actor.id, number)
            raise NotAllowed(OWN_CASE)
        require_level(
            self.bot, interaction, case.action, refusal=f"{{plain}}, so only they may change a {case.action} case."
        )

    # -- actions -------------------------------------------------------------------------------

    async def _act(self, interaction: discord.Interaction, action: Action, notice: str = "") -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        case, *escalations = await record(self.bot, action)
        for done in (case, *escalations):  # (no await before: the outcome cannot come first)
            if done.action in REFUSABLE:
                what = f"{REFUSABLE[done.action]} {discord.utils.escape_markdown(str(action.target))}"
                self.outcomes.tell_if_refused(interaction, done.id, done.number, what)
        length = f" ({format_duration(action.duration)})" if action.kind in ("ban", "timeout", "mute") else ""
        for more in escalations:
            span = f" ({format_duration(timedelta(minutes=more.duration))})" if more.duration else ""
            notice += f" Their warning points reached a threshold: case #{more.number}, {more.action}{span}."
        await interaction.followup.send(
            f"Case #{case.number}: {action.kind} {discord.utils.escape_markdown(str(action.target))}{length}.{notice}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _simple(self, interaction: discord.Interaction, kind: str, target: discord.abc.User, reason: str) -> None:
        """An action with no duration: check, record, answer."""
        self.check(interaction, kind, target)
        await self._act(interaction, Action(kind, target, interaction.user, reason, context=self._context(interaction)))

    def _context(self, interaction: discord.Interaction) -> dict:
        return {"channel_id": str(interaction.channel_id)} if interaction.channel_id else {}

    @mod.command(name="warn", description="Warn a member (they are told by DM); points count toward escalation")
    @app_commands.describe(member="who", reason="why (they see it)", points="warning points (default from settings)")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def warn(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: Reason,
        points: app_commands.Range[int, 0, 100] | None = None,
    ) -> None:
        self.check(interaction, "warn", member)
        action = Action("warn", member, interaction.user, reason, points=points, context=self._context(interaction))
        await self._act(interaction, action)

    @mod.command(name="note", description="A private note on a member (they are not told)")
    @app_commands.describe(member="who", reason="the note")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def note(self, interaction: discord.Interaction, member: discord.Member, reason: Reason) -> None:
        await self._simple(interaction, "note", member, reason)

    @mod.command(name="timeout", description="Time a member out (at most Discord's 28 days)")
    @app_commands.describe(member="who", reason="why (they see it)", duration="e.g. 10m, 2h, 7d")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def timeout(
        self, interaction: discord.Interaction, member: discord.Member, reason: Reason, duration: str = "1h"
    ) -> None:
        self.check(interaction, "timeout", member)
        length, capped = capped_timeout(_duration(duration))
        notice = " Discord allows at most 28 days, so the timeout was capped." if capped else ""
        action = Action(
            "timeout", member, interaction.user, reason, length, capped=capped, context=self._context(interaction)
        )
        await self._act(interaction, action, notice)

    @mod.command(name="untimeout", description="Lift a member's timeout early")
    @app_commands.describe(member="who", reason="why")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def untimeout(self, interaction: discord.Interaction, member: discord.Member, reason: Reason) -> None:
        await self._simple(interaction, "untimeout", member, reason)

    @mod.command(name="mute", description="Give a member the mute role, for a time or until unmuted")
    @app_commands.describe(member="who", reason="why (they see it)", duration="e.g. 30m, 1d, or permanent")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def mute(
        self, interaction: discord.Interaction, member: discord.Member, reason: Reason, duration: str = "permanent"
    ) -> None:
        self._check_mute_role(give=True, actor=interaction.user)
        self.check(interaction, "mute", member)
        action = Action(
            "mute", member, interaction.user, reason, _duration(duration), context=self._context(interaction)
        )
        await self._act(interaction, action)

    @mod.command(name="unmute", description="Take the mute role back (closes the open mute)")
    @app_commands.describe(member="who", reason="why")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def unmute(self, interaction: discord.Interaction, member: discord.Member, reason: Reason) -> None:
        self._check_mute_role(give=False, actor=interaction.user)
        await self._simple(interaction, "unmute", member, reason)

    def _check_mute_role(self, *, give: bool, actor: discord.abc.User) -> None:
        """The mute role exists and the bot can give it; to give it: it makes nobody staff, the actor
        could give it themselves in Discord, and it carries no administrative permission."""
        role_id = self.bot.config.community.moderation.mute_role_id
        guild = self.bot.home_guild
        role = guild.get_role(role_id) if guild is not None and role_id is not None else None
        if role is None:
            raise BadInput("No mute role is set up: an admin sets moderation.mute_role_id in conclave.toml.")
        if guild is not None and guild.me is not None and role >= guild.me.top_role:
            raise NotAllowed("The mute role is not below my highest role, so Discord won't let me give it.")
        if not give:
            return
        if role.id in self.bot.config.community.staff_role_ids:
            raise NotAllowed("The mute role is a staff role: I won't hand it out.")
        if refusal := above_actor(role, actor):
            raise NotAllowed(f"The mute role {refusal}")
        if powers := mute_role_powers(self.bot):
            raise NotAllowed(
                f"The mute role has administrative permissions ({', '.join(powers)}): I won't hand it out."
            )

    @commands.Cog.listener()
    async def on_member_returned(self, member: discord.Member, user_id: str) -> None:
        await reapply_mute(self.bot, member)

    @mod.command(name="kick", description="Kick a member (told by DM first)")
    @app_commands.describe(member="who", reason="why (they see it)")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def kick(self, interaction: discord.Interaction, member: discord.Member, reason: Reason) -> None:
        await self._simple(interaction, "kick", member, reason)

    @mod.command(name="ban", description="Ban a member, for a time or for good (told by DM first)")
    @app_commands.describe(
        member="who",
        reason="why (they see it)",
        duration="e.g. 7d, or permanent",
        delete_message_days="delete their messages of the last N days (0-7)",
    )
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        reason: Reason,
        duration: str = "permanent",
        delete_message_days: app_commands.Range[int, 0, 7] = 0,
    ) -> None:
        member = await resolve_user(self.bot, member)
        self.check(interaction, "ban", member)
        action = Action(
            "ban",
            member,
            interaction.user,
            reason,
            _duration(duration),
            delete_message_days,
            context=self._context(interaction),
        )
        await self._act(interaction, action)

    @mod.command(name="unban", description="Lift a ban (closes the open ban case)")
    @app_commands.describe(user="who", reason="why")
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def unban(self, interaction: discord.Interaction, user: discord.User, reason: Reason) -> None:
        target = await resolve_user(self.bot, user)
        self.check(interaction, "unban", target)
        if not await self._banned(target):  # a case would record an unban of nobody
            raise BadInput(f"{discord.utils.escape_markdown(str(target))} is not banned.")
        await self._simple(interaction, "unban", target, reason)

    async def _banned(self, target: discord.abc.User) -> bool:
        """Banned on record, or in Discord (a ban made in its own menus, before the bot saw it)."""
        guild_id = str(self.bot.guild_id)
        if await moderation.active_sanction(self.bot.pool, guild_id, str(target.id), "ban") is not None:
            return True
        guild = self.bot.home_guild
        if guild is None:
            return True  # Discord cannot be asked: the unban goes ahead as before
        try:
            await guild.fetch_ban(target)
        except discord.NotFound:
            return False
        except discord.HTTPException:
            return True
        return True

    @mod.command(
        name="purge", description="Delete a member's latest messages in a channel, optionally taking back their XP"
    )
    @app_commands.describe(
        member="whose messages",
        count="how many of their latest messages (1-100)",
        reverse_xp="also take back the XP those messages earned",
        channel="where (default: this channel)",
        reason="why (logged)",
    )
    @app_commands.autocomplete(reason=reason_suggestions)
    @staff_only("moderate")
    async def purge(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        count: app_commands.Range[int, 1, 100],
        reverse_xp: bool = False,
        channel: discord.TextChannel | discord.Thread | None = None,
        reason: Reason = "purged",
    ) -> None:
        member = await resolve_user(self.bot, member)
        self.check(interaction, "purge", member)
        where = channel or interaction.channel
        guild = self.bot.home_guild
        assert guild is not None and guild.me is not None
        if not isinstance(where, discord.TextChannel | discord.Thread) or where.guild.id != guild.id:
            raise BadInput("Purge works in the server's text channels and threads.")
        mine = where.permissions_for(guild.me)
        if not (mine.read_message_history and mine.manage_messages):
            raise NotAllowed(f"I need Read Message History and Manage Messages in {where.mention} to purge there.")
        if reverse_xp and self.bot.doors.xp is None:
            raise BadInput("XP is not enabled on this bot, so there is no XP to take back.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        found: list[int] = []
        async for message in where.history(limit=PURGE_SCAN):
            if message.author.id == member.id:
                found.append(message.id)
                if len(found) == count:
                    break
        if not found:
            raise NotFound(
                f"No messages of {discord.utils.escape_markdown(str(member))} among the last "
                f"{PURGE_SCAN:,} in {where.mention}."
            )
        action = Action("purge", member, interaction.user, reason, context=self._context(interaction))
        done = await purge(self.bot, action, where.id, found, reverse_xp=reverse_xp)
        taken = f" {done.xp_taken:,} XP taken back from {done.messages_reversed} message(s)." if reverse_xp else ""
        await interaction.followup.send(
            f"Case #{done.case.number}: deleting {done.messages} message(s) of "
            f"{discord.utils.escape_markdown(str(member))} in {where.mention}.{taken}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    # -- reading -------------------------------------------------------------------------------

    async def case_numbers(
        self, interaction: discord.Interaction, current: int | str
    ) -> list[app_commands.Choice[int]]:
        """The newest cases matching the digits typed so far, each with its action and reason."""
        if not is_staff(interaction.user, self.bot.config.community):
            return []  # members see no cases
        typed = "".join(ch for ch in str(current or "") if ch.isdigit())
        found = await moderation.recent_cases(self.bot.pool, str(self.bot.guild_id), starting_with=typed)
        return [
            app_commands.Choice(name=f"#{c.number} {c.action}: {(c.reason or '')[:70]}"[:100], value=c.number)
            for c in found
        ]

    @mod.command(name="history", description="A member's cases, newest first, and their active warning points")
    @app_commands.describe(member="who")
    @staff_only("moderate")
    async def history(self, interaction: discord.Interaction, member: discord.User) -> None:
        member = await resolve_user(self.bot, member)
        user_id = await users.user_id_for(self.bot.pool, str(member.id))  # a lookup creates no row
        if user_id is None:
            await interaction.response.send_message(f"{echo(str(member))} has no moderation history.", ephemeral=True)
            return
        embed, view = await history_message(self.bot, user_id, str(member))
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @case.command(name="show", description="One case, in full")
    @app_commands.describe(number="the case number")
    @app_commands.autocomplete(number=case_numbers)
    @staff_only("moderate")
    async def show(self, interaction: discord.Interaction, number: CaseNumber) -> None:
        found = await moderation.case_by_number(self.bot.pool, str(self.bot.guild_id), number)
        if found is None:
            raise NotFound(f"There is no case #{number}.")
        target = found.metadata.get("target_discord_id", "?")
        moderator_discord_id = (
            await users.discord_id_for(self.bot.pool, found.moderator_id) if found.moderator_id else None
        )
        if moderator_discord_id:
            moderator = f"<@{moderator_discord_id}>"
        elif found.moderator_id is None and found.metadata.get("in_discord"):
            moderator = IN_DISCORD  # the audit log did not say who
        else:
            moderator = "(erased account)"
        duration = format_duration(timedelta(minutes=found.duration)) if found.duration else None
        name = await self._name_of(target)
        embed = case_embed(found, target=name, moderator=moderator, duration=duration)
        if "voided" in found.metadata:
            embed.title = f"[VOID] {embed.title}"
        history = await moderation.revisions(self.bot.pool, found.id)
        files = []
        if history:
            mentions, names = {}, {}
            for r in history:
                if r.editor_id and r.editor_id not in names:
                    discord_id = await users.discord_id_for(self.bot.pool, r.editor_id)
                    mentions[r.editor_id] = f"<@{discord_id}>" if discord_id else "(erased account)"
                    names[r.editor_id] = await self._name_of(discord_id) if discord_id else "(erased account)"
            filename = f"case-{found.number}.txt"
            room = min(FIELD_MAX, EMBED_TOTAL_MAX - len(embed) - len("Revisions"))
            value, cut = revisions_field(history, mentions, room=room, filename=filename)
            embed.add_field(name="Revisions", value=value, inline=False)
            if cut:  # the whole text stays reachable: every revision in full, in a file
                text = revisions_file(found.number, history, names)
                files.append(discord.File(io.BytesIO(text.encode()), filename=filename))
        await interaction.response.send_message(embed=embed, files=files, ephemeral=True)

    async def _name_of(self, discord_id: str) -> str:
        """A case's member by name (a title shows no mentions): from the server, Discord's cache, or
        the name kept with their row."""
        guild = self.bot.home_guild
        if not discord_id.isdigit():
            return f"user {discord_id}"  # an erased member
        found = guild.get_member(int(discord_id)) if guild is not None else None
        found = found or self.bot.get_user(int(discord_id))
        if found is not None:
            return str(found)
        profile = await users.get_profile_by_discord_id(self.bot.pool, discord_id)
        return profile.username if profile is not None else f"user {discord_id}"

    @case.command(name="edit", description="Correct a case's reason or duration (the old value is kept)")
    @app_commands.describe(number="the case number", reason="the corrected reason", duration="e.g. 3d, or permanent")
    @app_commands.autocomplete(number=case_numbers)
    @staff_only("moderate")
    async def edit(
        self,
        interaction: discord.Interaction,
        number: CaseNumber,
        reason: Reason | None = None,
        duration: str | None = None,
    ) -> None:
        if reason is None and duration is None:
            raise BadInput("Give a new reason, a new duration, or both.")
        await self.check_case_change(interaction, number)
        new_duration = _duration(duration) if duration is not None else "unchanged"
        try:
            case = await edit_case(self.bot, number, interaction.user, reason=reason, duration=new_duration)
        except CaseError as error:
            raise BadInput(str(error)) from None
        await interaction.response.send_message(
            f"Case #{case.number} updated; the previous values are kept.", ephemeral=True
        )

    @case.command(name="void", description="Void a case: it stays on record; its points and sanction are lifted")
    @app_commands.describe(number="the case number", reason="why (logged)")
    @app_commands.autocomplete(number=case_numbers)
    @staff_only("moderate")
    async def void(self, interaction: discord.Interaction, number: CaseNumber, reason: Reason) -> None:
        await self.check_case_change(interaction, number)
        try:
            case = await void_case(self.bot, number, interaction.user, reason)
        except CaseError as error:
            raise BadInput(str(error)) from None
        await interaction.response.send_message(f"Case #{case.number} voided.", ephemeral=True)


def _duration(text: str) -> timedelta | None:
    try:
        return parse_duration(text)
    except DurationError as error:
        raise BadInput(str(error)) from None

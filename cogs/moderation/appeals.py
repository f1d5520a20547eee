"""Appeals: a sanctioned member appeals a case once, with `/appeal` in the server or with the Appeal
button on the bot's DM about the case (a banned member shares no server with the bot, so a DM
button is their only way in); staff decide with Accept / Deny on the modlog entry; the decision
sets the case's appeal_status, lifts the sanction in force when accepted, and is sent to the
member, who can also check it any time with the same Appeal button."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import discord
from discord import app_commands
from discord.ext import commands

from bot.core.checks import require_staff
from bot.core.errors import BadInput, NotAllowed, NotFound, report, reported
from bot.ui.moderation import appeal_custom_id, appeal_decision_embed, appeal_embed
from cogs.moderation.commands import CaseNumber, require_level
from cogs.moderation.lifecycle import Lifter, lift
from db import moderation, outbox
from db.moderation import APPEALABLE, Case

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

APPEAL_LENGTH = 1000
OWN_APPEAL = "Nobody decides the appeal of a case about themselves."


def _status_line(case: Case) -> str:
    status = case.metadata.get("appeal_status")
    appeal = case.metadata.get("appeal") or {}
    if status == "pending":
        return f"Your appeal of case #{case.number} is waiting for the staff's decision."
    verdict = "accepted" if status == "accepted" else "denied"
    note = f"\nFrom the staff: {appeal['note']}" if appeal.get("note") else ""
    return f"Your appeal of case #{case.number} was {verdict}.{note}"


# -- what an appeal records ------------------------------------------------------------------


async def _own_case(conn: asyncpg.Connection, bot: ConclaveBot, number: int, user: discord.abc.User) -> Case:
    """The member's case, locked; a case of someone else (or a note, which they are never told
    of) reads as no case at all."""
    case = await moderation.lock_case(conn, str(bot.guild_id), number)
    if case is None or case.metadata.get("target_discord_id") != str(user.id) or case.action == "note":
        raise NotFound(f"You have no case #{number}.")
    return case


async def submit_appeal(bot: ConclaveBot, number: int, user: discord.abc.User, text: str, *, via: str) -> Case:
    """Record the appeal on the case (once) and put it before the staff in the modlog channel."""
    channel_id = bot.config.community.announcements.mod_log_channel_id
    if channel_id is None:
        raise BadInput("Appeals aren't set up on this server yet (no moderation log channel); please ask the staff.")
    text = text.strip()
    if not text:
        raise BadInput("Say why the case should be reconsidered.")
    user_id = await bot.identity.user_id(user)
    async with bot.pool.acquire() as conn, conn.transaction():
        case = await _own_case(conn, bot, number, user)
        if case.metadata.get("appeal_status"):
            raise BadInput(f"You appealed case #{number} already (one appeal per case). {_status_line(case)}")
        if case.action not in APPEALABLE or "voided" in case.metadata:
            raise BadInput(f"Case #{number} can't be appealed (it was voided or lifts a sanction).")
        appeal = {"text": text, "at": datetime.now(UTC).isoformat(), "via": via}
        await moderation.revise_case(
            conn,
            case.id,
            field="appeal",
            old_value=None,
            new_value="pending",
            editor_id=user_id,
            metadata={"appeal_status": "pending", "appeal": appeal},
        )
        case = await moderation.case_by_id(conn, case.id) or case
        view = discord.ui.View(timeout=None)
        view.add_item(DecisionButton(number, "a"))
        view.add_item(DecisionButton(number, "d"))
        payload = {
            "channel_id": str(channel_id),
            "content": None,
            "embeds": [appeal_embed(case, appellant=str(user)).to_dict()],
            "components": view.to_components(),
        }
        await outbox.enqueue(conn, "channel_message", payload, dedupe_key=f"appeal:{case.id}")
    bot.outbox.wake()
    log.info("appeal of case #%d by %s (%s) via %s", number, user, user.id, via)
    return case


async def decide_appeal(
    bot: ConclaveBot, number: int, staff: discord.abc.User, *, accept: bool, note: str
) -> tuple[Case, Case | None]:
    """Accept or deny a pending appeal; accepting lifts the sanction still in force (with its own
    case) and stops a warning's points counting. The member is told by DM (whether it arrived is
    kept on the case: a banned member shares no server with the bot, so Discord may refuse it)."""
    staff_id = await bot.identity.user_id(staff)
    status = "accepted" if accept else "denied"
    async with bot.pool.acquire() as conn, conn.transaction():
        case = await moderation.lock_case(conn, str(bot.guild_id), number)
        if case is None or case.metadata.get("appeal_status") is None:
            raise NotFound(f"Case #{number} has no appeal.")
        if case.metadata.get("target_discord_id") == str(staff.id):
            raise NotAllowed(OWN_APPEAL)
        if case.metadata["appeal_status"] != "pending":
            raise BadInput(f"Case #{number}'s appeal was {case.metadata['appeal_status']} already.")
        appeal = {
            **(case.metadata.get("appeal") or {}),
            "decided_by": staff_id,
            "decided_at": datetime.now(UTC).isoformat(),
            "note": note.strip() or None,
        }
        await moderation.revise_case(
            conn,
            case.id,
            field="appeal",
            old_value="pending",
            new_value=status,
            editor_id=staff_id,
            metadata={"appeal_status": status, "appeal": appeal},
        )
        lifted = None
        if accept:
            sanction = await moderation.sanction_of_case(conn, case.id)
            if sanction is not None:
                lifted = await lift(conn, bot, sanction, Lifter("lifted", "appeal accepted", staff_id, str(staff)))
        case = await moderation.case_by_id(conn, case.id) or case
        embed = appeal_decision_embed(case, server=bot.home_guild.name if bot.home_guild else "the server")
        payload = {
            "user_id": case.metadata["target_discord_id"],
            "content": None,
            "embeds": [embed.to_dict()],
            "appeal_case_id": case.id,
        }
        await outbox.enqueue(conn, "dm", payload, dedupe_key=f"appeal-decision:{case.id}")
    bot.outbox.wake()
    bot.timers.wake()
    log.info("appeal of case #%d %s by %s (%s)", number, status, staff, staff.id)
    return case, lifted


async def record_appeal_dm(
    conn: asyncpg.Connection, item: outbox.OutboxItem, delivered: bool, error: str | None
) -> None:
    """An outbox outcome hook: whether the member received the appeal's decision."""
    case_id = item.payload.get("appeal_case_id")
    if item.kind == "dm" and case_id is not None:
        patch: dict[str, Any] = {"appeal_dm_sent": delivered}
        if error:
            patch["appeal_dm_error"] = error
        await moderation.merge_metadata(conn, int(case_id), patch)


# -- buttons, modals, /appeal ----------------------------------------------------------------


class AppealModal(discord.ui.Modal):
    def __init__(self, number: int, via: str) -> None:
        super().__init__(title=f"Appeal case #{number}")
        self.number, self.via = number, via
        self.text = discord.ui.TextInput(
            label="Why should the staff reconsider?",
            style=discord.TextStyle.paragraph,
            max_length=APPEAL_LENGTH,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        await submit_appeal(bot, self.number, interaction.user, self.text.value, via=self.via)
        await interaction.response.send_message(
            f"Your appeal of case #{self.number} was sent to the staff. You'll be told of their decision; "
            "press Appeal on the bot's message about the case any time to see where it stands.",
            ephemeral=True,
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error, "appeal modal")


class AppealButton(discord.ui.DynamicItem[discord.ui.Button], template=r"appeal:(?P<n>\d+)"):  # type: ignore[call-arg]
    """On the DM about a case: appeal it, or once appealed, see the appeal's status."""

    def __init__(self, number: int) -> None:
        self.number = number
        super().__init__(
            discord.ui.Button(label="Appeal", style=discord.ButtonStyle.secondary, custom_id=appeal_custom_id(number))
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> AppealButton:
        return cls(int(match["n"]))

    @reported("appeal button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        case = await moderation.case_by_number(bot.pool, str(bot.guild_id), self.number)
        if case is None or case.metadata.get("target_discord_id") != str(interaction.user.id):
            raise NotFound(f"You have no case #{self.number}.")
        if case.metadata.get("appeal_status"):
            await interaction.response.send_message(_status_line(case), ephemeral=True)
            return
        via = "dm" if interaction.guild_id is None else "server"
        await interaction.response.send_modal(AppealModal(self.number, via))


class DecisionModal(discord.ui.Modal):
    def __init__(self, number: int, accept: bool) -> None:
        super().__init__(title=f"{'Accept' if accept else 'Deny'} the appeal of case #{number}")
        self.number, self.accept = number, accept
        self.note = discord.ui.TextInput(
            label="Message to the member (optional)", style=discord.TextStyle.paragraph, required=False, max_length=500
        )
        self.add_item(self.note)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        _require_decider(interaction)
        if self.accept:
            await _require_lift_level(interaction, self.number)
        case, lifted = await decide_appeal(bot, self.number, interaction.user, accept=self.accept, note=self.note.value)
        verdict = "Accepted" if self.accept else "Denied"
        line = f"{verdict} by {interaction.user.mention}" + (f" · lifted by case #{lifted.number}" if lifted else "")
        if self.note.value.strip():
            line += f"\n{discord.utils.escape_markdown(self.note.value.strip()[:500])}"
        embeds = interaction.message.embeds if interaction.message else []
        embed = embeds[0] if embeds else discord.Embed(title=f"Appeal of case #{case.number}")
        embed.add_field(name="Decision", value=line[:1024], inline=False)
        await interaction.response.edit_message(embed=embed, view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error, "appeal decision")


def _require_decider(interaction: discord.Interaction) -> None:
    """Staff of the home guild, at the level moderation.action_roles gives `appeal` (if any)."""
    require_staff(interaction, "decide appeals")
    require_level(
        interaction.client,  # type: ignore[arg-type]
        interaction,
        "appeal",
        refusal="Only the staff named in moderation.action_roles.appeal decide appeals.",
    )


async def _require_lift_level(interaction: discord.Interaction, number: int) -> None:
    """Accepting lifts the case's sanction (or its points): the same rule as a void, the level of the
    case's own action (moderation.action_roles), so nobody lifts through an appeal a ban they could
    not lift otherwise."""
    bot: ConclaveBot = interaction.client  # type: ignore[assignment]
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), number)
    if case is None:
        return  # said by the decision itself ("Case #N has no appeal.")
    require_level(
        bot,
        interaction,
        case.action,
        refusal=f"{{plain}}, so only they may accept the appeal of a {case.action} case.",
    )


class DecisionButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"appeal-decide:(?P<n>\d+):(?P<d>[ad])",
):  # type: ignore[call-arg]
    """Accept (a) or Deny (d) on the modlog entry of an appeal."""

    def __init__(self, number: int, decision: str) -> None:
        self.number, self.decision = number, decision
        accept = decision == "a"
        super().__init__(
            discord.ui.Button(
                label="Accept" if accept else "Deny",
                style=discord.ButtonStyle.success if accept else discord.ButtonStyle.danger,
                custom_id=f"appeal-decide:{number}:{decision}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> DecisionButton:
        return cls(int(match["n"]), match["d"])

    @reported("appeal decision button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        _require_decider(interaction)
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        case = await moderation.case_by_number(bot.pool, str(bot.guild_id), self.number)
        if case is not None and case.metadata.get("target_discord_id") == str(interaction.user.id):
            raise NotAllowed(OWN_APPEAL)
        if self.decision == "a":
            await _require_lift_level(interaction, self.number)
        await interaction.response.send_modal(DecisionModal(self.number, self.decision == "a"))


class Appeals(commands.Cog):
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot

    async def own_cases(self, interaction: discord.Interaction, current: int | str) -> list[app_commands.Choice[int]]:
        """The member's own cases they may still appeal."""
        user_id = await self.bot.identity.user_id(interaction.user)
        typed = "".join(ch for ch in str(current or "") if ch.isdigit())
        cases = await moderation.appealable_cases(self.bot.pool, str(self.bot.guild_id), user_id)
        return [
            app_commands.Choice(name=f"#{c.number} {c.action}: {(c.reason or '')[:70]}"[:100], value=c.number)
            for c in cases
            if str(c.number).startswith(typed)
        ]

    @app_commands.command(name="appeal", description="Appeal a moderation case against you (once per case)")
    @app_commands.describe(case="the case number (from the bot's message about it)", reason="why it should change")
    @app_commands.autocomplete(case=own_cases)
    @app_commands.guild_only()
    async def appeal(
        self,
        interaction: discord.Interaction,
        case: CaseNumber,
        reason: app_commands.Range[str, 1, APPEAL_LENGTH],
    ) -> None:
        if interaction.guild_id != self.bot.guild_id:
            raise NotAllowed("Appeals are made in the community's own server.")
        await submit_appeal(self.bot, case, interaction.user, reason, via="server")
        await interaction.response.send_message(
            f"Your appeal of case #{case} was sent to the staff; you'll be told of their decision.", ephemeral=True
        )

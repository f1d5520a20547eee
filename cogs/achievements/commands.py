"""/achievements (paged), /achievement info | showcase | notify, and for staff grant | revoke | backfill."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.checks import is_staff, require_staff
from bot.core.errors import BadInput, NotAllowed, NotFound, reported
from bot.rules import achievements as rules
from bot.ui.achievements import Line, info_embed, list_embed
from bot.ui.buttons import page_button
from bot.ui.echo import echo
from bot.ui.progress import Progress
from cogs.achievements.engine import AchievementEngine, Known
from cogs.xp.adjustments import not_a_member
from db import achievements, admin_logs, pathways, users
from db.achievements import SHOWCASE_LIMIT, ShowcaseFull

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

PAGE = 8
Reason = app_commands.Range[str, 1, 500]
PathwayChoice = Literal["gaming", "lorebound", "productive", "news"]
CategoryChoice = Literal["milestone", "special", "seasonal", "pathway", "community"]


async def achievements_message(
    bot: ConclaveBot, engine: AchievementEngine, user_id: str, owner: str, pathway: str, category: str, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    """One page of a member's achievements: earned (newest first), in progress (closest first),
    then locked; hidden ones they have not earned are only counted."""
    held = await achievements.holdings(bot.pool, user_id)
    rows = await achievements.member_stats(bot.pool, [user_id])
    stats: Any = rows[0] if rows else rules.MemberStats()  # a StatsRow reads as MemberStats
    lines: list[Line] = []
    hidden = 0
    for known in engine.known.values():
        a = known.achievement
        if (pathway and a.pathway != pathway) or (category and a.category != category):
            continue
        holding = held.get(a.id)
        earned = holding is not None and holding.progress == 100
        if a.hidden and not earned:
            hidden += 1
            continue
        figures = rules.current_and_target(known.rule, stats)
        lines.append(
            Line(
                a,
                holding.earned_at if earned and holding else None,
                100 if earned else rules.progress(known.rule, stats),
                figures[0] if figures else None,
                figures[1] if figures else None,
                engine.rarity_percent(a.id),
            )
        )
    lines.sort(
        key=lambda ln: (
            ln.earned_at is None,
            -(ln.earned_at.timestamp() if ln.earned_at else 0),
            -ln.progress,
            ln.achievement.name,
        )
    )
    pages = max(1, -(-len(lines) // PAGE))
    page = min(max(1, page), pages)
    shown = lines[(page - 1) * PAGE : page * PAGE]
    earned_count = sum(1 for ln in lines if ln.earned_at is not None)
    embed = list_embed(owner, shown, hidden=hidden, page=page, pages=pages, earned=earned_count, shown_total=len(lines))
    view = discord.ui.View(timeout=None)
    view.add_item(AchievementsButton(user_id, pathway, category, page - 1, label="◀ Previous", disabled=page <= 1))
    view.add_item(AchievementsButton(user_id, pathway, category, page + 1, label="Next ▶", disabled=page >= pages))
    return embed, view


class AchievementsButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"achl:(?P<uid>[\w-]+):(?P<pw>[a-z-]+):(?P<cat>[a-z-]+):(?P<page>\d+)",
):  # type: ignore[call-arg]
    def __init__(
        self, user_id: str, pathway: str, category: str, page: int, *, label: str, disabled: bool = False
    ) -> None:
        self.user_id, self.pathway, self.category, self.page = user_id, pathway, category, page
        super().__init__(
            page_button(f"achl:{user_id}:{pathway or '-'}:{category or '-'}:{max(page, 0)}", label, disabled=disabled)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> AchievementsButton:
        pathway = "" if match["pw"] == "-" else match["pw"]
        category = "" if match["cat"] == "-" else match["cat"]
        return cls(match["uid"], pathway, category, int(match["page"]), label=item.label or "")

    @reported("achievements page button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        engine = AchievementEngine.of(bot)
        embeds = interaction.message.embeds if interaction.message else []
        title = embeds[0].title or "" if embeds else ""
        owner = discord.utils.remove_markdown(title.removesuffix("'s achievements")) or "member"
        embed, view = await achievements_message(
            bot, engine, self.user_id, owner, self.pathway, self.category, self.page
        )
        await interaction.response.edit_message(embed=embed, view=view)


class AchievementCommands(commands.Cog):
    group = app_commands.Group(name="achievement", description="Achievements: details, showcase, notifications")
    showcase = app_commands.Group(name="showcase", description="The achievements on your profile", parent=group)

    def __init__(self, bot: ConclaveBot, engine: AchievementEngine) -> None:
        self.bot = bot
        self.engine = engine

    # -- finding an achievement -------------------------------------------------------------

    def _find(self, text: str, user_earned: set[str] | None = None) -> Known:
        """By id or name (case-insensitive); a hidden one only if the member earned it."""
        wanted = text.strip().lower()
        for known in self.engine.known.values():
            a = known.achievement
            if wanted in (a.id, a.name.lower()):
                if a.hidden and (user_earned is None or a.id not in user_earned):
                    break
                return known
        raise NotFound(f"There is no achievement called '{echo(text, 80)}'.")

    async def visible_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        user_id = await self.bot.identity.user_id(interaction.user)
        earned = await achievements.earned_ids(self.bot.pool, user_id)
        typed = current.strip().lower()
        choices = [
            app_commands.Choice(name=k.achievement.name[:100], value=k.achievement.id)
            for k in self.engine.known.values()
            if (not k.achievement.hidden or k.achievement.id in earned)
            and (typed in k.achievement.name.lower() or typed in k.achievement.id)
        ]
        return sorted(choices, key=lambda c: c.name)[:25]

    async def earned_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        user_id = await self.bot.identity.user_id(interaction.user)
        earned = await achievements.earned_ids(self.bot.pool, user_id)
        typed = current.strip().lower()
        return [
            app_commands.Choice(name=k.achievement.name[:100], value=k.achievement.id)
            for k in self.engine.known.values()
            if k.achievement.id in earned and typed in k.achievement.name.lower()
        ][:25]

    async def any_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Staff see every active achievement, hidden ones too; anyone else (the command refuses
        them anyway) only what /achievement info would show them, so no hidden name leaks."""
        community = self.bot.config.community
        if interaction.guild_id != community.guild_id or not is_staff(interaction.user, community):
            return await self.visible_names(interaction, current)
        typed = current.strip().lower()
        return sorted(
            (
                app_commands.Choice(name=k.achievement.name[:100], value=k.achievement.id)
                for k in self.engine.known.values()
                if typed in k.achievement.name.lower() or typed in k.achievement.id
            ),
            key=lambda c: c.name,
        )[:25]

    # -- members ----------------------------------------------------------------------------

    @app_commands.command(name="achievements", description="Earned and in-progress achievements (yours or a member's)")
    @app_commands.describe(member="whose (default: yours)", pathway="only this pathway's", category="only this kind")
    @app_commands.guild_only()
    async def list_(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        pathway: PathwayChoice | None = None,
        category: CategoryChoice | None = None,
    ) -> None:
        target = member or interaction.user
        user_id = await self.bot.identity.user_id(target)
        embed, view = await achievements_message(
            self.bot, self.engine, user_id, target.display_name, pathway or "", category or "", 1
        )
        await interaction.response.send_message(embed=embed, view=view)

    @group.command(name="info", description="One achievement: how to earn it, its rarity, who was first")
    @app_commands.describe(name="the achievement")
    @app_commands.autocomplete(name=visible_names)
    async def info(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        user_id = await self.bot.identity.user_id(interaction.user)
        held = await achievements.holdings(self.bot.pool, user_id)
        earned = {aid for aid, h in held.items() if h.progress == 100}
        known = self._find(name, earned)
        a = await achievements.get(self.bot.pool, known.achievement.id) or known.achievement
        first = None
        if a.first_earned_by:
            discord_id = await users.discord_id_for(self.bot.pool, a.first_earned_by)
            first = f"<@{discord_id}>" if discord_id else "(erased account)"
        holding = held.get(a.id)
        embed = info_embed(
            a,
            requirement=rules.describe(known.rule),
            rarity=self.engine.rarity_percent(a.id),
            first_earner=first,
            earned_at=holding.earned_at if holding and holding.progress == 100 else None,
            progress=holding.progress if holding else 0,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @showcase.command(name="add", description=f"Show an earned achievement on your profile (at most {SHOWCASE_LIMIT})")
    @app_commands.describe(name="one of your achievements")
    @app_commands.autocomplete(name=earned_names)
    async def showcase_add(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        await self._showcase(interaction, name, True)

    @showcase.command(name="remove", description="Take an achievement off your profile")
    @app_commands.describe(name="one of your showcased achievements")
    @app_commands.autocomplete(name=earned_names)
    async def showcase_remove(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        await self._showcase(interaction, name, False)

    async def _showcase(self, interaction: discord.Interaction, name: str, shown: bool) -> None:
        user_id = await self.bot.identity.user_id(interaction.user)
        earned = await achievements.earned_ids(self.bot.pool, user_id)
        known = self._find(name, earned)
        try:
            async with self.bot.pool.acquire() as conn, conn.transaction():
                ok = await achievements.set_showcased(conn, user_id, known.achievement.id, shown)
        except ShowcaseFull:
            raise BadInput(
                f"You already show {SHOWCASE_LIMIT} achievements; remove one first (/achievement showcase remove)."
            ) from None
        if not ok:
            raise BadInput(f"You haven't earned **{known.achievement.name}** yet.")
        verb = "now shown on" if shown else "no longer shown on"
        await interaction.response.send_message(
            f"**{discord.utils.escape_markdown(known.achievement.name)}** is {verb} your profile and rank card.",
            ephemeral=True,
        )

    @group.command(name="notify", description="How you hear of your unlocks: in the channel, by DM, or not at all")
    @app_commands.describe(how="channel (announced), dm, or off (only in /notifications)")
    async def notify(self, interaction: discord.Interaction, how: Literal["channel", "dm", "off"]) -> None:
        user_id = await self.bot.identity.user_id(interaction.user)
        await achievements.set_notify(self.bot.pool, user_id, how)
        said = {"channel": "announced in the channel", "dm": "sent to you by DM", "off": "only in /notifications"}
        await interaction.response.send_message(f"Your unlocks will be {said[how]}.", ephemeral=True)

    # -- staff ------------------------------------------------------------------------------

    @group.command(name="grant", description="Staff: award an achievement to a member")
    @app_commands.describe(member="who", name="the achievement", reason="why (logged)")
    @app_commands.autocomplete(name=any_names)
    async def grant(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        name: app_commands.Range[str, 1, 100],
        reason: Reason,
    ) -> None:
        known, user_id, actor = await self._staff_target(interaction, member, name)
        pathway = known.achievement.pathway
        if pathway is not None and user_id not in await pathways.joined(self.bot.pool, [user_id], pathway):
            title = f"**{discord.utils.escape_markdown(known.achievement.name)}**"
            raise BadInput(not_a_member(self.bot, member.display_name, pathway, title))
        awarded = await self.engine.award(
            known.achievement, [user_id], actor_id=actor, reason=f"granted: {reason}", lift_revocation=True
        )
        if not awarded:
            raise BadInput(f"{member.display_name} already has **{known.achievement.name}**.")
        await self._log(
            actor, "achievement_grant", known, user_id, {"earned": True, "xp": known.achievement.xp}, reason
        )
        await interaction.response.send_message(
            f"Granted **{discord.utils.escape_markdown(known.achievement.name)}** to {member.mention} "
            f"(+{known.achievement.xp:,} XP).",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @group.command(name="revoke", description="Staff: take an achievement back (and its XP)")
    @app_commands.describe(member="who", name="the achievement", reason="why (logged)")
    @app_commands.autocomplete(name=any_names)
    async def revoke(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        name: app_commands.Range[str, 1, 100],
        reason: Reason,
    ) -> None:
        known, user_id, actor = await self._staff_target(interaction, member, name)
        taken = await self.engine.revoke(known.achievement, user_id, actor, reason)
        if taken is None:
            raise BadInput(f"{member.display_name} doesn't have **{known.achievement.name}**.")
        await self._log(actor, "achievement_revoke", known, user_id, {"earned": False, "xp_taken": taken}, reason)
        await interaction.response.send_message(
            f"Revoked **{discord.utils.escape_markdown(known.achievement.name)}** from {member.mention} "
            f"({taken:,} XP taken back).",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @group.command(name="backfill", description="Staff: award an achievement to every member who already qualifies")
    @app_commands.describe(name="the achievement")
    @app_commands.autocomplete(name=any_names)
    async def backfill(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        require_staff(interaction, "backfill achievements")
        known = self._find(name, set(self.engine.known))
        title = echo(known.achievement.name)
        await interaction.response.send_message(f"Backfilling **{title}**: computing progress…", ephemeral=True)
        progress = Progress(interaction)  # a big backfill outlives the reply's 15 minutes of edits

        async def report(text: str) -> None:
            await progress.show(f"Backfilling **{title}**: {text}")

        written, awarded = await self.engine.backfill(known.achievement.id, report)
        await progress.show(
            f"Backfilled **{title}**: {awarded:,} member(s) awarded, {written:,} progress row(s) updated."
        )
        log.info("%s backfilled %r: %d awarded", interaction.user, known.achievement.id, awarded)

    async def _staff_target(
        self, interaction: discord.Interaction, member: discord.Member, name: str
    ) -> tuple[Known, str, str]:
        """For grant and revoke: the checks, the achievement, the member's and the actor's users.id."""
        self._staff(interaction, member)
        known = self._find(name, set(self.engine.known))
        return known, await self.bot.identity.user_id(member), await self.bot.identity.user_id(interaction.user)

    async def _log(
        self, actor: str, action: str, known: Known, user_id: str, after: dict[str, Any], reason: str
    ) -> None:
        """The admin_logs row of a grant or revoke: earned before and after (and the XP)."""
        await admin_logs.log_admin_action(
            self.bot.pool,
            admin_id=actor,
            action=action,
            target_type="achievement",
            target_id=known.achievement.id,
            previous_value={"user_id": user_id, "earned": not after["earned"]},
            new_value={"user_id": user_id, **after},
            reason=reason,
        )

    def _staff(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Staff of the home guild, not on themselves."""
        require_staff(interaction, "grant or revoke achievements")
        if member.id == interaction.user.id:
            raise NotAllowed("You can't grant or revoke your own achievements; ask another staff member.")
        if member.bot:
            raise BadInput("Bots don't earn achievements.")

"""/event create | edit | cancel | list | info | register | leave | reminders (registration itself,
and the Register / Leave / Check in buttons, are cogs/events/registration.py)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.checks import is_staff
from bot.core.errors import BadInput, NotAllowed, NotFound, report, reported
from bot.rules.events import (
    WhenError,
    check_window,
    parse_when,
    recurrence_pattern,
)
from bot.ui.buttons import page_button
from bot.ui.events import event_embed, list_embed
from cogs.events.announcement import announce, refresh
from cogs.events.lifecycle import cancel, schedule, tell_promoted
from cogs.events.ratings import open_rating
from cogs.events.registration import leave, register
from db import events, users
from db.events import Event

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

PAGE = 5
PathwayChoice = Literal["gaming", "lorebound", "productive", "news"]


def _refusal(error: WhenError) -> BadInput:
    """A date rule's words as the member's message: a sentence."""
    text = str(error)
    return BadInput(f"{text[0].upper()}{text[1:]}.")


def _when(text: str, timezone: str) -> datetime:
    try:
        return parse_when(text, timezone)
    except WhenError as error:
        raise _refusal(error) from None


def _window(start: datetime, end: datetime | None) -> None:
    try:
        check_window(start, end, datetime.now(UTC))
    except WhenError as error:
        raise _refusal(error) from None


class EventModal(discord.ui.Modal):
    """The event's words and times (the rest came with the command's options)."""

    def __init__(
        self, cog: EventCommands, options: dict[str, Any], *, repeat: str | None = None, until: datetime | None = None
    ) -> None:
        super().__init__(title="New event")
        self.cog, self.options, self.repeat, self.until = cog, options, repeat, until
        zone = cog.bot.config.community.xp.timezone
        self.name = discord.ui.TextInput(label="Title", max_length=100)
        self.details = discord.ui.TextInput(
            label="Description", style=discord.TextStyle.paragraph, required=False, max_length=2000
        )
        # A text input's label holds 45 characters and a zone's name alone may take 32: the zone goes
        # in the placeholder (100).
        self.start = discord.ui.TextInput(
            label="Start, e.g. 2026-12-05 20:00", placeholder=f"Time in {zone}"[:100], max_length=40
        )
        self.end = discord.ui.TextInput(label="End (optional), same format", required=False, max_length=40)
        self.capacity = discord.ui.TextInput(label="Places (empty: no limit)", required=False, max_length=6)
        for item in (self.name, self.details, self.start, self.end, self.capacity):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.create_from(interaction, self)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error, "event form")


class ListButton(discord.ui.DynamicItem[discord.ui.Button], template=r"evl:(?P<pw>[a-z-]+):(?P<page>\d+)"):  # type: ignore[call-arg]
    def __init__(self, pathway: str, page: int, *, label: str, disabled: bool = False) -> None:
        self.pathway, self.page = pathway, page
        super().__init__(page_button(f"evl:{pathway or '-'}:{max(page, 1)}", label, disabled=disabled))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> ListButton:
        return cls("" if match["pw"] == "-" else match["pw"], int(match["page"]), label=item.label or "")

    @reported("event list button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        embed, view = await list_message(interaction.client, self.pathway, self.page)  # type: ignore[arg-type]
        await interaction.response.edit_message(embed=embed, view=view)


async def list_message(bot: ConclaveBot, pathway: str, page: int) -> tuple[discord.Embed, discord.ui.View]:
    found = await events.listed(bot.pool, pathway=pathway or None, offset=(page - 1) * PAGE, limit=PAGE + 1)
    more = len(found) > PAGE
    embed = list_embed(found[:PAGE], page=page, more=more, pathway=pathway or None)
    view = discord.ui.View(timeout=None)
    view.add_item(ListButton(pathway, page - 1, label="◀ Previous", disabled=page <= 1))
    view.add_item(ListButton(pathway, page + 1, label="Next ▶", disabled=not more))
    return embed, view


class EventCommands(commands.Cog):
    event = app_commands.Group(name="event", description="Community events", guild_only=True)

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot

    # -- who may host ---------------------------------------------------------------------------

    def may_host(self, member: discord.abc.User) -> bool:
        if is_staff(member, self.bot.config.community):  # type: ignore[arg-type]
            return True
        hosts = set(self.bot.config.community.events.host_role_ids)
        return isinstance(member, discord.Member) and any(r.id in hosts for r in member.roles)

    async def _managed(self, interaction: discord.Interaction, event_id: str) -> Event:
        """The event, if the member may manage it: staff, or its host or a co-host (holding a host role)."""
        if interaction.guild_id != self.bot.guild_id:
            raise NotAllowed("Events are managed in the community's own server.")
        event = await events.get(self.bot.pool, event_id)
        if event is None:
            raise NotFound("There is no such event.")
        user_id = await self.bot.identity.user_id(interaction.user)
        co_hosts = {str(c) for c in event.co_hosts}
        if is_staff(interaction.user, self.bot.config.community):  # type: ignore[arg-type]
            return event
        if event.host_id == user_id or str(interaction.user.id) in co_hosts or user_id in co_hosts:
            return event
        log.info("event %s: %s (%s) may not manage it", event_id, interaction.user, interaction.user.id)
        raise NotAllowed("Only staff and the event's hosts can change it.")

    async def events_found(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        found = await events.search(self.bot.pool, current.strip())
        return [
            app_commands.Choice(name=f"{e.title[:70]} · {e.start_date:%Y-%m-%d %H:%M}"[:100], value=e.id) for e in found
        ]

    # -- hosts --------------------------------------------------------------------------------

    @event.command(name="create", description="Hosts: create an event (a form asks for its title and times)")
    @app_commands.describe(
        type="kind of event, e.g. game night, workshop, tournament",
        pathway="the pathway it belongs to",
        voice_channel="where it happens",
        xp_reward="XP for each attendee",
        min_level="lowest level that may register",
        required_pathway="only members of this pathway may register",
        required_role="only holders of this role may register",
        registration_deadline="last moment to register, e.g. 2026-12-05 18:00",
        repeat="make it a series: the next occurrence is made when one ends",
        repeat_until="the last day of the series, e.g. 2027-06-30 23:59",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        type: app_commands.Range[str, 1, 50] = "community",
        pathway: PathwayChoice | None = None,
        voice_channel: discord.VoiceChannel | discord.StageChannel | None = None,
        xp_reward: app_commands.Range[int, 0, 10_000] = 0,
        min_level: app_commands.Range[int, 0, 1000] = 0,
        required_pathway: PathwayChoice | None = None,
        required_role: discord.Role | None = None,
        registration_deadline: app_commands.Range[str, 1, 40] | None = None,
        repeat: Literal["weekly", "biweekly", "monthly"] | None = None,
        repeat_until: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        if interaction.guild_id != self.bot.guild_id or not self.may_host(interaction.user):
            raise NotAllowed("Only staff and event hosts can create events.")
        deadline = (
            _when(registration_deadline, self.bot.config.community.xp.timezone) if registration_deadline else None
        )
        options = {
            "type": type,
            "pathway": pathway,
            "voice_channel_id": str(voice_channel.id) if voice_channel else None,
            "location_type": "discord",
            "rewards": {"xp": xp_reward, "badges": []},
            "min_level": min_level,
            "required_pathway": required_pathway,
            "required_roles": [str(required_role.id)] if required_role else [],
            "registration_deadline": deadline,
            "registration_required": True,
        }
        zone = self.bot.config.community.xp.timezone
        until = _when(repeat_until, zone) if repeat_until else None
        if until is not None and repeat is None:
            raise BadInput("repeat_until needs repeat (weekly, biweekly or monthly).")
        await interaction.response.send_modal(EventModal(self, options, repeat=repeat, until=until))

    async def create_from(self, interaction: discord.Interaction, form: EventModal) -> None:
        zone = self.bot.config.community.xp.timezone
        start = _when(form.start.value, zone)
        end = _when(form.end.value, zone) if form.end.value.strip() else None
        _window(start, end)
        capacity = None
        if form.capacity.value.strip():
            if not form.capacity.value.strip().isdigit() or int(form.capacity.value) < 1:
                raise BadInput("Places is a whole number of at least 1 (or empty for no limit).")
            capacity = int(form.capacity.value)
        deadline = form.options["registration_deadline"]
        if deadline is not None and deadline > start:
            raise BadInput("The registration deadline is after the start.")
        host_id = await self.bot.identity.user_id(interaction.user)
        async with self.bot.pool.acquire() as conn, conn.transaction():
            event = await events.create(
                conn,
                title=form.name.value.strip(),
                description=form.details.value.strip() or None,
                start_date=start,
                end_date=end,
                timezone=zone,
                max_participants=capacity,
                host=str(interaction.user),
                host_id=host_id,
                status="upcoming",
                **form.options,
            )
            if form.repeat is not None:
                length = int((end - start).total_seconds() // 60) if end else None
                template = {"title": event.title, "max_participants": capacity, "length_minutes": length}
                pattern = recurrence_pattern(form.repeat, form.until, series=event.id, start=start, template=template)
                updated = await events.update(conn, event.id, recurrence_pattern=pattern)
                await events.set_recurring(conn, event.id)
                event = updated or event
            await schedule(conn, self.bot, event)
            announced = await announce(conn, self.bot, event, host=interaction.user.mention)
        self.bot.timers.wake()
        self.bot.outbox.wake()
        self.bot.doors.nudge_mirror()
        where = " and announced" if announced else " (no events channel is set, so it was not announced)"
        await interaction.response.send_message(
            f"Event **{discord.utils.escape_markdown(event.title)}** created{where}. Its id: `{event.id}`.",
            ephemeral=True,
        )
        log.info("%s created event %s (%s)", interaction.user, event.id, event.title)

    @event.command(name="edit", description="Hosts: change an event's title, times or places")
    @app_commands.describe(
        event="the event", title="new title", start="new start", end="new end", places="new number of places"
    )
    @app_commands.autocomplete(event=events_found)
    async def edit(
        self,
        interaction: discord.Interaction,
        event: str,
        title: app_commands.Range[str, 1, 100] | None = None,
        start: app_commands.Range[str, 1, 40] | None = None,
        end: app_commands.Range[str, 1, 40] | None = None,
        places: app_commands.Range[int, 1, 100_000] | None = None,
        series: bool = False,
    ) -> None:
        current = await self._managed(interaction, event)
        if series and not (current.recurring and current.recurrence_pattern):
            raise BadInput("This event is not part of a series.")
        if current.status in ("cancelled", "completed"):
            raise BadInput(f"This event is {current.status}; it can't be changed.")
        zone = self.bot.config.community.xp.timezone
        new_start = _when(start, zone) if start else current.start_date
        new_end = _when(end, zone) if end else current.end_date
        if start or end:
            _window(new_start, new_end)
        changes: dict[str, Any] = {}
        if title:
            changes["title"] = title.strip()
        if start:
            changes["start_date"] = new_start
        if end:
            changes["end_date"] = new_end
        if places is not None:
            changes["max_participants"] = places
        if not changes:
            raise BadInput("Give something to change: title, start, end or places.")
        if series:
            pattern = dict(current.recurrence_pattern or {})
            template = dict(pattern.get("template") or {})
            if title:
                template["title"] = title.strip()
            if places is not None:
                template["max_participants"] = places
            if start or end:
                template["length_minutes"] = int((new_end - new_start).total_seconds() // 60) if new_end else None
            if start:
                pattern["anchor"] = pattern["slot"] = new_start.isoformat()
            changes["recurrence_pattern"] = {**pattern, "template": template}
        async with self.bot.pool.acquire() as conn, conn.transaction():
            locked = await events.get(conn, event, lock=True)
            assert locked is not None
            if places is not None:
                taken = (await events.counts(conn, event)).registered
                if places < taken:
                    raise BadInput(f"{taken} members are registered already; places can't go below that.")
            updated = await events.update(conn, event, **changes)
            assert updated is not None
            promoted = await events.fill_places(conn, event, updated.max_participants) if places is not None else []
            await tell_promoted(conn, updated, promoted)
            if start or end:
                await schedule(conn, self.bot, updated)
            await refresh(conn, event)
        self.bot.timers.wake()
        self.bot.outbox.wake()
        self.bot.doors.nudge_mirror()
        await interaction.response.send_message(
            f"Event **{discord.utils.escape_markdown(updated.title)}** updated"
            + (" (and the occurrences to come)." if series else "."),
            ephemeral=True,
        )

    @event.command(name="cancel", description="Hosts: cancel an event (every registrant is told)")
    @app_commands.describe(event="the event", reason="why (registrants see it)")
    @app_commands.autocomplete(event=events_found)
    async def cancel_(
        self, interaction: discord.Interaction, event: str, reason: app_commands.Range[str, 1, 500]
    ) -> None:
        current = await self._managed(interaction, event)
        if current.status in ("cancelled", "completed"):
            raise BadInput(f"This event is {current.status} already.")
        cancelled, told, following = await cancel(self.bot, event, reason)
        self.bot.doors.nudge_mirror()
        goes_on = (
            f" The series goes on: next on {discord.utils.format_dt(following.start_date, 'f')}."
            if following is not None
            else ""
        )
        await interaction.response.send_message(
            f"Event **{discord.utils.escape_markdown(cancelled.title)}** cancelled; "
            f"{told} member(s) will be told by DM.{goes_on}",
            ephemeral=True,
        )

    # -- everyone -------------------------------------------------------------------------------

    @event.command(name="list", description="Upcoming events, soonest first")
    @app_commands.describe(pathway="only this pathway's")
    async def list_(self, interaction: discord.Interaction, pathway: PathwayChoice | None = None) -> None:
        embed, view = await list_message(self.bot, pathway or "", 1)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @event.command(name="info", description="One event: when, where, places, what it takes")
    @app_commands.describe(event="the event")
    @app_commands.autocomplete(event=events_found)
    async def info(self, interaction: discord.Interaction, event: str) -> None:
        found = await events.get(self.bot.pool, event)
        if found is None:
            raise NotFound("There is no such event.")
        tally = await events.counts(self.bot.pool, event)
        host_discord = await users.discord_id_for(self.bot.pool, found.host_id) if found.host_id else None
        host = f"<@{host_discord}>" if host_discord else "(unknown)"
        embed = event_embed(found, host=host, registered=tally.registered, waitlisted=tally.waitlisted)
        scores = await events.ratings(self.bot.pool, event)
        if scores.count:
            embed.add_field(name="Rating", value=f"{scores.average:.1f} / 5 ({scores.count} rating(s))")
        if found.host_id:
            record = await events.host_record(self.bot.pool, found.host_id)
            if record.events:
                average = f", rated {record.average:.1f} / 5 ({record.ratings})" if record.ratings else ""
                embed.add_field(name="Host's record", value=f"{record.events} event(s) held{average}")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @event.command(name="register", description="Register for an event (or join its waitlist when full)")
    @app_commands.describe(event="the event")
    @app_commands.autocomplete(event=events_found)
    async def register_(self, interaction: discord.Interaction, event: str) -> None:
        assert isinstance(interaction.user, discord.Member)
        await interaction.response.send_message(await register(self.bot, event, interaction.user), ephemeral=True)

    @event.command(name="leave", description="Leave an event (your place goes to the first waiting)")
    @app_commands.describe(event="the event")
    @app_commands.autocomplete(event=events_found)
    async def leave_(self, interaction: discord.Interaction, event: str) -> None:
        await interaction.response.send_message(await leave(self.bot, event, interaction.user), ephemeral=True)

    @event.command(name="rate", description="Rate an event you attended (1-5, with optional feedback)")
    @app_commands.describe(event="the event's id (from its announcement or /event info)")
    async def rate(self, interaction: discord.Interaction, event: app_commands.Range[str, 1, 40]) -> None:
        await open_rating(interaction, event.strip())

    @event.command(name="reminders", description="Turn an event's reminders on or off for you")
    @app_commands.describe(event="the event", on="on or off")
    @app_commands.autocomplete(event=events_found)
    async def reminders(self, interaction: discord.Interaction, event: str, on: bool) -> None:
        if await events.get(self.bot.pool, event) is None:
            raise NotFound("There is no such event.")
        user_id = await self.bot.identity.user_id(interaction.user)
        if not await events.set_reminders(self.bot.pool, event, user_id, on):
            raise BadInput("You aren't registered for that event.")
        await interaction.response.send_message(f"Reminders {'on' if on else 'off'} for that event.", ephemeral=True)

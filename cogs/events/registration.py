"""Registration for an event: the eligibility checks, capacity and the waitlist (requests served in
arrival order per event), leaving (which promotes the first waiting), check-in, and the Register /
Leave / Check in buttons on an event's announcement (they keep working after a restart)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import discord

from bot.core.errors import BadInput, NotAllowed, NotFound, reported
from bot.rules.events import (
    Candidate,
    Requirements,
    why_not_register,
)
from cogs.events.announcement import refresh
from cogs.events.lifecycle import tell_promoted
from cogs.events.queue import EventQueues
from db import events, moderation, users

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

QUEUES = EventQueues()  # registrations served in arrival order, per event


async def register(bot: ConclaveBot, event_id: str, member: discord.Member) -> str:
    """Register a member (or put them on the waitlist), after the eligibility checks; the answer.
    Served in arrival order: the event's queue is taken before anything is read or written."""
    async with QUEUES.turn(event_id):
        return await _register(bot, event_id, member)


async def _register(bot: ConclaveBot, event_id: str, member: discord.Member) -> str:
    user_id = await bot.identity.user_id(member)
    async with bot.pool.acquire() as conn:
        event = await events.get(conn, event_id)
        if event is None:
            raise NotFound("There is no such event.")
        profile = await users.get_profile(conn, user_id)
        sanction = None
        for kind in ("ban", "timeout", "mute"):
            if await moderation.active_sanction(conn, str(bot.guild_id), str(member.id), kind):
                sanction = kind
                break
    if sanction is None and member.is_timed_out():
        sanction = "timeout"
    requirements = Requirements(
        status=event.status if event.is_active or event.status == "cancelled" else "cancelled",
        starts_at=event.start_date,
        deadline=event.registration_deadline,
        min_level=event.min_level,
        required_pathway=event.required_pathway,
        required_role_ids=[int(r) for r in event.required_roles],
    )
    candidate = Candidate(
        level=profile.level if profile else 1,
        pathways=profile.pathways if profile else [],
        role_ids={r.id for r in member.roles},
        sanction=sanction,
    )
    role_names = {r.id: r.name for r in member.guild.roles}
    refusal = why_not_register(requirements, candidate, datetime.now(UTC), role_names=role_names)
    if refusal is not None:
        log.info("registration for %s refused to %s: %s", event_id, member.id, refusal)
        raise NotAllowed(refusal)
    async with bot.pool.acquire() as conn, conn.transaction():
        locked = await events.get(conn, event_id, lock=True)
        assert locked is not None
        result = await events.register(conn, event_id, user_id, locked.max_participants)
        if result.changed and await refresh(conn, event_id):
            bot.outbox.wake()
    if result.changed:
        bot.analytics.record(
            "event_registered",
            user_id=user_id,
            category="events",
            action=result.status,  # registered or waitlisted
            label=event_id,
            pathway=event.pathway,
        )
    title = discord.utils.escape_markdown(event.title)
    if result.status == "waitlisted":
        already = "You are already" if not result.changed else "The event is full: you are"
        return (
            f"{already} on the waitlist for **{title}**, number {result.position}. "
            "You'll be told by DM if a place opens."
        )
    if not result.changed:
        return f"You are already registered for **{title}**."
    return f"You are registered for **{title}** ({discord.utils.format_dt(event.start_date, 'R')})."


async def leave(bot: ConclaveBot, event_id: str, member: discord.abc.User) -> str:
    user_id = await bot.identity.user_id(member)
    async with QUEUES.turn(event_id), bot.pool.acquire() as conn, conn.transaction():
        event = await events.get(conn, event_id, lock=True)
        if event is None:
            raise NotFound("There is no such event.")
        if event.status == "cancelled" or not event.is_active:
            raise BadInput("This event was cancelled.")
        if event.status == "completed":
            raise BadInput("This event is over.")
        before, promoted = await events.leave(conn, event_id, user_id, event.max_participants)
        if promoted:
            await tell_promoted(conn, event, [promoted])
        edited = before is not None and await refresh(conn, event_id)
    if promoted or edited:
        bot.outbox.wake()
    title = discord.utils.escape_markdown(event.title)
    if before is None:
        return f"You weren't registered for **{title}**."
    return f"You left {'the waitlist of ' if before == 'waitlisted' else ''}**{title}**."


async def check_in(bot: ConclaveBot, event_id: str, member: discord.abc.User) -> str:
    """A registrant checks in while an event without a voice channel is on."""
    event = await events.get(bot.pool, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    if event.voice_channel_id:
        raise BadInput(f"Attendance is counted in <#{event.voice_channel_id}>: join it while the event is on.")
    if event.status != "ongoing":
        raise BadInput("Check-in is open while the event is on.")
    user_id = await bot.identity.user_id(member)
    attendance = bot.doors.events_attendance  # its own door, the events feature's
    if attendance is None:
        raise BadInput("Check-in is not open right now: try again in a moment.")

    async def mark(conn: asyncpg.Connection) -> list[tuple[str, str]]:
        before = await events.check_in(conn, event_id, user_id)
        return [(event_id, user_id)] if before == "registered" else []

    if not await attendance.attended(mark):
        raise BadInput("You're checked in already, or not registered for this event.")
    return f"Checked in to **{discord.utils.escape_markdown(event.title)}**: enjoy!"


class RegisterButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"evt:(?P<act>[rlc]):(?P<event>[0-9a-f-]{36})"
):  # type: ignore[call-arg]
    LABELS = {"r": "Register", "l": "Leave", "c": "Check in"}

    def __init__(self, action: str, event_id: str) -> None:
        self.action, self.event_id = action, event_id
        super().__init__(
            discord.ui.Button(
                label=self.LABELS[action],
                style=discord.ButtonStyle.success if action == "r" else discord.ButtonStyle.secondary,
                custom_id=f"evt:{action}:{event_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> RegisterButton:
        return cls(match["act"], match["event"])

    @reported("event registration button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        guild = bot.home_guild
        member = guild.get_member(interaction.user.id) if guild is not None else None  # from a DM too
        if interaction.guild_id not in (None, bot.guild_id) or member is None:
            raise NotAllowed("Only members of the community's server can register.")
        if self.action == "r":
            text = await register(bot, self.event_id, member)
        elif self.action == "l":
            text = await leave(bot, self.event_id, interaction.user)
        else:
            text = await check_in(bot, self.event_id, interaction.user)
        await interaction.response.send_message(text, ephemeral=True)

"""Each event mirrored as a Discord guild scheduled event (the "Events" tab members already use):
created, updated, started, completed or cancelled to match the events row. A reconciler, not a
queue: it compares the rows with Discord's list (at start-up, every minute, and right after a change
made through the bot) and makes the calls that close the gap, so a failure is simply retried next
time and events the website writes are mirrored too. The event's id is kept in the scheduled event's
description, so an event created just before a crash is adopted, not created twice.

Members who mark "Interested" on a mirrored event are offered registration by DM."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.ui.embeds import bounded_title
from bot.ui.events import register_buttons
from cogs.events.lifecycle import ends_at
from db import events, outbox
from db.events import Event

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

MARKER = re.compile(r"\[conclave:([0-9a-f-]{36})\]")
FINISHED = (discord.EventStatus.completed, discord.EventStatus.cancelled)


@dataclass
class Mirrored:
    created: int = 0
    updated: int = 0
    finished: int = 0
    failed: int = 0


def _description(event: Event) -> str:
    text = (event.description or "")[:900]
    return f"{text}\n\n[conclave:{event.id}]".strip()


def _marker(scheduled: discord.ScheduledEvent) -> str | None:
    match = MARKER.search(scheduled.description or "")
    return match.group(1) if match else None


class Mirror:
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.warned_permission = False
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._lock = asyncio.Lock()  # one pass at a time (a nudge, the minute's pass, start-up)

    def nudge(self) -> None:
        """Reconcile soon (after a change made through the bot); one pass at a time, one more if
        something changed during it."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._passes(), name="events-mirror")

    async def _passes(self) -> None:
        await asyncio.sleep(0.3)  # the change's transaction commits first
        while True:
            self._again = False
            try:
                await self.reconcile()
            except Exception as error:
                log.warning("Discord events not mirrored: %s", error)
            if not self._again:
                return

    async def reconcile(self) -> Mirrored:
        async with self._lock:
            return await self._reconcile()

    async def _reconcile(self) -> Mirrored:
        result = Mirrored()
        guild = self.bot.home_guild
        if guild is None or guild.me is None or not self.bot.may_act():  # only the leader touches Discord
            return result
        if not guild.me.guild_permissions.manage_events:
            if not self.warned_permission:
                log.warning("events are not mirrored as Discord events: the bot lacks Manage Events")
                self.warned_permission = True
            return result
        remote = {e.id: e for e in await guild.fetch_scheduled_events()}
        by_marker = {m: e for e in remote.values() if (m := _marker(e))}
        for event in await events.to_mirror(self.bot.pool):
            scheduled = remote.get(int(event.discord_event_id)) if event.discord_event_id else None
            scheduled = scheduled or by_marker.get(event.id)
            if not self.bot.may_act():  # the lease lost during the pass: the leader's next one finishes it
                return result
            try:
                await self._one(guild, event, scheduled, result)
            except discord.HTTPException as error:
                result.failed += 1
                log.warning(
                    "event %s not mirrored (HTTP %s: %s); retried at the next pass", event.id, error.status, error.text
                )
        if result.created or result.updated or result.finished:
            log.info(
                "Discord events mirrored: %d created, %d updated, %d finished",
                result.created,
                result.updated,
                result.finished,
            )
        return result

    async def _one(
        self, guild: discord.Guild, event: Event, scheduled: discord.ScheduledEvent | None, result: Mirrored
    ) -> None:
        live = event.status in ("upcoming", "ongoing") and event.is_active
        if scheduled is None:
            if not live or event.start_date <= datetime.now(UTC) + timedelta(seconds=5):
                return  # nothing to mirror (Discord takes only future starts)
            scheduled = await self._create(guild, event)
            await events.set_discord_event(self.bot.pool, event.id, str(scheduled.id))
            result.created += 1
        elif event.discord_event_id != str(scheduled.id):
            await events.set_discord_event(self.bot.pool, event.id, str(scheduled.id))
        if scheduled.status in FINISHED:
            return
        if event.status == "cancelled" or not event.is_active:
            if scheduled.status == discord.EventStatus.scheduled:
                await scheduled.cancel()
            else:
                await scheduled.end()
            result.finished += 1
            return
        if event.status == "completed":
            if scheduled.status == discord.EventStatus.scheduled:
                await scheduled.start()
            await scheduled.end()
            result.finished += 1
            return
        if event.status == "ongoing" and scheduled.status == discord.EventStatus.scheduled:
            await scheduled.start()
            result.updated += 1
        if scheduled.name != event.title[:100] or scheduled.description != _description(event):
            await scheduled.edit(name=event.title[:100], description=_description(event))
            result.updated += 1
        elif event.status == "upcoming" and scheduled.start_time != event.start_date:
            await scheduled.edit(start_time=event.start_date, end_time=ends_at(self.bot, event))
            result.updated += 1

    async def _create(self, guild: discord.Guild, event: Event) -> discord.ScheduledEvent:
        channel = guild.get_channel(int(event.voice_channel_id)) if event.voice_channel_id else None
        common = {
            "name": event.title[:100],
            "description": _description(event),
            "start_time": event.start_date,
            "end_time": ends_at(self.bot, event),
            "privacy_level": discord.PrivacyLevel.guild_only,
        }
        if isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            return await guild.create_scheduled_event(channel=channel, **common)  # type: ignore[arg-type]
        return await guild.create_scheduled_event(
            entity_type=discord.EntityType.external,
            location="The Conclave Realm",
            **common,  # type: ignore[arg-type]
        )

    async def offer(self, scheduled: discord.ScheduledEvent, user: discord.User | discord.Member) -> bool:
        """A member marked "Interested": offer registration by DM (once per member and event)."""
        event_id = _marker(scheduled)
        if event_id is None or user.bot:
            return False
        event = await events.get(self.bot.pool, event_id)
        if event is None or event.status != "upcoming":
            return False
        user_id = await self.bot.identity.user_id(user)
        registered = {
            r.user_id for r in await events.registrants(self.bot.pool, event_id, statuses=("registered", "waitlisted"))
        }
        if user_id in registered:
            return False
        embed = discord.Embed(
            title=bounded_title(f"Join {event.title}?"),
            description=(
                f"You marked it as interesting. It starts {discord.utils.format_dt(event.start_date, 'R')}: "
                "register to hold a place and get reminders."
            ),
            colour=0x5865F2,
        )
        payload = {
            "user_id": str(user.id),
            "content": None,
            "embeds": [embed.to_dict()],
            "components": [{"type": 1, "components": [register_buttons(event_id)[0]["components"][0]]}],
        }
        async with self.bot.pool.acquire() as conn:
            queued = await outbox.enqueue(conn, "dm", payload, dedupe_key=f"event-interested:{event_id}:{user.id}")
        self.bot.outbox.wake()
        return queued is not None

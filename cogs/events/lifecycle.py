"""What happens to an event over time, on the durable timers: reminders before the start (each sent
once, to registrants who did not turn them off), the status following the clock (upcoming, ongoing,
completed; cancelled stays cancelled), and what registration and cancellation tell members."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.rules.events import next_occurrence, reminder_offsets
from bot.rules.moderation import format_duration, parse_duration
from bot.ui.embeds import bounded_title
from cogs.events.announcement import announce, host_mention, refresh
from cogs.events.ratings import invite_ratings
from db import events, outbox, timers
from db.events import Event

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

KINDS = ("event_reminder", "event_start", "event_end")


def ends_at(bot: ConclaveBot, event: Event) -> datetime:
    """The end, or the start plus [events] default_length for an event without one."""
    length = parse_duration(bot.config.community.events.default_length) or timedelta(hours=2)
    return event.end_date or event.start_date + length


async def schedule(conn: asyncpg.Connection, bot: ConclaveBot, event: Event) -> int:
    """(Re)schedule an event's reminders and status changes for its current times, in the caller's
    transaction; the timers of earlier times are cancelled. Returns how many were scheduled."""
    for kind in KINDS:
        await timers.cancel(conn, kind, "event_id", event.id)
    now = datetime.now(UTC)
    start = event.start_date.isoformat()
    count = 0
    if event.status == "upcoming":
        for offset in reminder_offsets(bot.config.community.events.reminders):
            due = event.start_date - offset
            if due > now:
                payload = {"event_id": event.id, "start": start, "before": format_duration(offset)}
                await timers.schedule(conn, "event_reminder", due, payload)
                count += 1
        await timers.schedule(conn, "event_start", max(event.start_date, now), {"event_id": event.id, "start": start})
        count += 1
    if event.status in ("upcoming", "ongoing"):
        await timers.schedule(conn, "event_end", max(ends_at(bot, event), now), {"event_id": event.id, "start": start})
        count += 1
    await events.mark_scheduled(conn, event)
    return count


async def reconcile(bot: ConclaveBot) -> int:
    """Schedule the events whose times the bot has not scheduled: rows the website wrote or edited
    (at start-up and every minute). Returns how many events were scheduled."""
    async with bot.pool.acquire() as conn:
        pending = await events.unscheduled(conn)
    for event in pending:
        async with bot.pool.acquire() as conn, conn.transaction():
            locked = await events.get(conn, event.id, lock=True)
            if locked is not None:
                await schedule(conn, bot, locked)
    if pending:
        bot.timers.wake()
        log.info("scheduled %d event(s) written or changed elsewhere", len(pending))
    return len(pending)


def _current(event: Event | None, timer: timers.Timer) -> bool:
    """The timer still belongs to the event as it is (not cancelled, same start)."""
    return event is not None and event.is_active and event.start_date.isoformat() == timer.payload.get("start")


def reminder_handler(bot: ConclaveBot):  # noqa: ANN201  (a timers.Handler)
    async def remind(conn: asyncpg.Connection, timer: timers.Timer) -> None:
        event = await events.get(conn, timer.payload["event_id"], lock=True)
        if not _current(event, timer) or event is None or event.status != "upcoming":
            return
        before = timer.payload.get("before", "")
        starts = discord.utils.format_dt(event.start_date, "R")
        embed = discord.Embed(
            title=bounded_title(f"Reminder: {event.title}"),
            description=f"It starts {starts} ({discord.utils.format_dt(event.start_date, 'f')}).",
            colour=0x5865F2,
        )
        if event.voice_channel_id:
            embed.add_field(name="Where", value=f"<#{event.voice_channel_id}>")
        embed.set_footer(text="Turn these off with /event reminders.")
        sent = 0
        for r in await events.registrants(conn, event.id, statuses=("registered",)):
            if not r.reminders:
                continue
            key = f"event-reminder:{event.id}:{timer.payload['start']}:{before}:{r.user_id}"
            payload = {"user_id": r.discord_id, "content": None, "embeds": [embed.to_dict()]}
            sent += await outbox.enqueue(conn, "dm", payload, dedupe_key=key) is not None
        bot.outbox.wake()
        log.info("event %s: %s reminder queued for %d registrant(s)", event.id, before, sent)

    return remind


def start_handler(bot: ConclaveBot):  # noqa: ANN201
    nudge = bot.doors.nudge_mirror  # the Discord mirror follows (cogs/events/mirror.py)

    async def start(conn: asyncpg.Connection, timer: timers.Timer) -> None:
        event = await events.get(conn, timer.payload["event_id"], lock=True)
        if _current(event, timer) and event is not None and event.status == "upcoming":
            await events.set_status(conn, event.id, "ongoing")
            await refresh(conn, event.id)
            nudge()
            bot.outbox.wake()
            log.info("event %s started", event.id)

    return start


def end_handler(bot: ConclaveBot):  # noqa: ANN201
    nudge = bot.doors.nudge_mirror  # the Discord mirror follows (cogs/events/mirror.py)

    async def end(conn: asyncpg.Connection, timer: timers.Timer) -> None:
        event = await events.get(conn, timer.payload["event_id"], lock=True)
        if (
            event is not None
            and event.status == "cancelled"
            and event.start_date.isoformat() == timer.payload.get("start")
        ):
            # Cancelled elsewhere (the website), its timers left: the series still goes on.
            following = await materialise_next(conn, bot, event)
            if following is not None:
                bot.timers.wake()
                bot.outbox.wake()
                log.info("event %s was cancelled; the next occurrence is %s", event.id, following.id)
            return
        if _current(event, timer) and event is not None and event.status in ("upcoming", "ongoing"):
            await events.set_status(conn, event.id, "completed")
            absent = await events.mark_no_shows(conn, event.id)
            await refresh(conn, event.id)
            nudge()
            asked = await invite_ratings(conn, event)
            following = await materialise_next(conn, bot, event)
            if following is not None:
                bot.timers.wake()
                log.info("event %s: the next occurrence is %s", event.id, following.id)
            bot.outbox.wake()
            log.info("event %s completed (%d no-show, %d asked for a rating)", event.id, absent, asked)

    return end


async def tell_promoted(conn: asyncpg.Connection, event: Event, user_ids: list[str]) -> None:
    """A member promoted from the waitlist is told by DM."""
    if not user_ids:
        return
    for r in await events.registrants(conn, event.id, statuses=("registered",)):
        if r.user_id not in user_ids:
            continue
        embed = discord.Embed(
            title=bounded_title(f"You're in: {event.title}"),
            description=(
                f"A place opened and you were next on the waitlist: you are registered. It starts "
                f"{discord.utils.format_dt(event.start_date, 'R')}."
            ),
            colour=0x2ECC71,
        )
        payload = {"user_id": r.discord_id, "content": None, "embeds": [embed.to_dict()]}
        await outbox.enqueue(
            conn, "dm", payload, dedupe_key=f"event-promoted:{event.id}:{r.user_id}:{datetime.now(UTC).timestamp()}"
        )


async def cancel(bot: ConclaveBot, event_id: str, reason: str) -> tuple[Event, int, Event | None]:
    """Cancel an event: it stays on record, cancelled; its timers are cancelled and every registrant
    and waiting member is told through the outbox. One occurrence of a series is cancelled, not the
    series: its next occurrence is made now (its end, which would have made it, will not come).
    Returns (the event, members told, the next occurrence made)."""
    async with bot.pool.acquire() as conn, conn.transaction():
        event = await events.get(conn, event_id, lock=True)
        assert event is not None
        await events.set_status(conn, event.id, "cancelled", reason=reason)
        for kind in KINDS:
            await timers.cancel(conn, kind, "event_id", event.id)
        told = 0
        embed = discord.Embed(
            title=bounded_title(f"Cancelled: {event.title}"),
            description=f"The event planned {discord.utils.format_dt(event.start_date, 'f')} is cancelled.",
            colour=0xC0392B,
        )
        embed.add_field(name="Why", value=discord.utils.escape_markdown(reason)[:1000], inline=False)
        for r in await events.registrants(conn, event.id, statuses=("registered", "waitlisted")):
            payload = {"user_id": r.discord_id, "content": None, "embeds": [embed.to_dict()]}
            told += (
                await outbox.enqueue(conn, "dm", payload, dedupe_key=f"event-cancel:{event.id}:{r.user_id}") is not None
            )
        await refresh(conn, event.id)
        following = await materialise_next(conn, bot, event)
    if following is not None:
        bot.timers.wake()
    bot.outbox.wake()
    return event, told, following


async def materialise_next(conn: asyncpg.Connection, bot: ConclaveBot, event: Event) -> Event | None:
    """A recurring event's next occurrence, made when one completes (or is cancelled): its slot in
    the series' rule, the series' template (title, places, length), scheduled and announced like a
    new event. The next slot still to come: after downtime longer than the series' interval, the
    occurrences missed meanwhile are not made (each would be announced, started and ended at once)."""
    pattern = event.recurrence_pattern
    if not event.recurring or not pattern or "anchor" not in pattern:
        return None
    anchor = datetime.fromisoformat(pattern["anchor"])
    slot = datetime.fromisoformat(pattern["slot"])
    start = next_occurrence(anchor, max(slot, datetime.now(UTC)), pattern, bot.config.community.xp.timezone)
    if start is None:
        return None
    minutes = (pattern.get("template") or {}).get("length_minutes")
    end = start + timedelta(minutes=minutes) if minutes else None
    following = await events.next_in_series(conn, event, start, end, {**pattern, "slot": start.isoformat()})
    if following is None:
        return None
    await schedule(conn, bot, following)
    await announce(conn, bot, following, host=await host_mention(conn, following))
    return following

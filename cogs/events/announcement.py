"""An event's announcement in the events channel, kept current: posted through the outbox, its
message recorded when the post is delivered, and edited through the outbox whenever what it shows
(places, status, the event's details) differs from the row. Changes made through the bot queue the
edit in their own transaction; the website's are found by the minute's check (`refresh_stale`). Once
the event is over or cancelled the announcement says so and loses its buttons."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.ui.events import announcement
from bot.writes.outbox import MESSAGE_GONE, retried_out
from db import announcements, events, outbox
from db.announcements import Shown
from db.events import Event

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


async def host_mention(conn: asyncpg.Connection, event: Event) -> str:
    found = await events.discord_ids(conn, [event.host_id]) if event.host_id else {}
    return f"<@{found[event.host_id]}>" if event.host_id in found else "(unknown)"


async def _render(
    conn: asyncpg.Connection, event: Event, host: str | None = None
) -> tuple[dict[str, Any], Shown] | None:
    """The announcement as it should look now, and the state it shows (None: the event is deleted)."""
    now = await announcements.current(conn, event.id)
    if now is None:
        return None
    host = host if host is not None else await host_mention(conn, event)
    message = announcement(event, host=host, registered=now.registered, waitlisted=now.waitlisted)
    return message, dataclasses.replace(now, digest=message["digest"])


async def announce(conn: asyncpg.Connection, bot: ConclaveBot, event: Event, host: str) -> bool:
    """The event's announcement with Register / Leave buttons, through the outbox (in the caller's
    transaction); the message is recorded against the event once posted."""
    settings = bot.config.community
    channel_id = settings.events.channel_id or settings.announcements.general_channel_id
    if channel_id is None:
        return False
    rendered = await _render(conn, event, host)
    if rendered is None:
        return False
    message, shown = rendered
    payload: dict[str, Any] = {
        "channel_id": str(channel_id),
        "content": None,
        "embeds": message["embeds"],
        "components": message["components"],
        "announces": {**dataclasses.asdict(shown), "event_id": event.id, "version": shown.version.isoformat()},
    }
    await outbox.enqueue(conn, "channel_message", payload, dedupe_key=f"event-announce:{event.id}")
    return True


async def refresh(conn: asyncpg.Connection, event_id: str) -> bool:
    """Queue an edit of the event's announcement if it shows another state than the row's, in the
    caller's transaction (after the change it shows). The announcement's row lock serialises this
    across processes: each state is queued once, under its own revision (the edit's dedupe key).
    True when an edit was queued."""
    announced = await announcements.get(conn, event_id, lock=True)
    if announced is None or announced.gone:
        return False
    event = await events.get(conn, event_id)
    if event is None:
        return False
    rendered = await _render(conn, event)
    if rendered is None:
        return False
    message, shown = rendered
    if announced.shown == shown:
        return False
    revision = await announcements.showing(conn, event_id, shown)
    if announced.shown is not None and announced.shown.digest == shown.digest:
        return False  # a change members do not see (e.g. the Discord event's id recorded)
    payload = {
        "channel_id": announced.channel_id,
        "message_id": announced.message_id,
        "embeds": message["embeds"],
        "components": message["components"],
        "event_id": event_id,
    }
    await outbox.enqueue(conn, "edit_message", payload, dedupe_key=f"event-announce-edit:{event_id}:{revision}")
    return True


async def refresh_stale(bot: ConclaveBot) -> int:
    """The minute's check: edit every announcement whose event changed elsewhere (the website's
    registrations, edits, cancellations). Returns how many edits were queued."""
    async with bot.pool.acquire() as conn:
        stale = await announcements.stale(conn)
    queued = 0
    for event_id in stale:
        async with bot.pool.acquire() as conn, conn.transaction():
            await events.get(conn, event_id, lock=True)  # the order every registration takes
            queued += await refresh(conn, event_id)
    if queued:
        bot.outbox.wake()
        log.info("%d event announcement(s) brought up to date", queued)
    return queued


async def on_outcome(conn: asyncpg.Connection, item: outbox.OutboxItem, delivered: bool, error: str | None) -> None:
    """The outbox's outcome hook: an announcement posted is recorded (and edited at once if the event
    changed since it was queued); an edit that found the message deleted stops its edits; one that
    Discord stayed unavailable for leaves what it shows unknown, so the next check sends it again."""
    if item.kind == "channel_message" and delivered and "announces" in item.payload and item.sent:
        a = item.payload["announces"]
        if await events.get(conn, a["event_id"], lock=True) is None:  # the order refresh_stale takes
            # deleted (the website, an admin) after it was queued: nothing to record or keep current
            log.info("event %s was deleted before its announcement was posted; not recorded", a["event_id"])
            return
        shown = Shown(a["registered"], a["waitlisted"], a["status"], datetime.fromisoformat(a["version"]), a["digest"])
        await announcements.record(conn, a["event_id"], item.sent["channel_id"], item.sent["id"], shown)
        await refresh(conn, a["event_id"])
    elif item.kind == "edit_message" and not delivered:
        message_id = str(item.payload["message_id"])
        if error is not None and error.startswith(MESSAGE_GONE):
            log.info("event %s: its announcement was deleted; no longer kept current", item.payload.get("event_id"))
            await announcements.mark_gone(conn, message_id)
        elif retried_out(error):
            await announcements.forget_shown(conn, message_id)
        # Refused (missing access, a form Discord rejects): sent again only with the next change, not
        # by every minute's check.

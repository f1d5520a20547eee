"""Events as members see them: the announcement and /event info, the list, and the Register / Leave
buttons (as Discord's JSON: the outbox posts them; the events cog's persistent buttons answer)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import discord

from bot.ui.embeds import bounded, bounded_title
from db.events import Event

# Discord's limits (the website writes events too: many required roles, long texts).
FIELD_MAX = 1024
FOOTER_MAX = 2048

STATUS = {"upcoming": "Upcoming", "ongoing": "Happening now", "completed": "Over", "cancelled": "Cancelled"}


def register_custom_id(event_id: str, action: str) -> str:
    return f"evt:{action}:{event_id}"


def register_buttons(event_id: str) -> list[dict[str, Any]]:
    buttons = [
        {"type": 2, "style": 3, "label": "Register", "custom_id": register_custom_id(event_id, "r")},
        {"type": 2, "style": 2, "label": "Leave", "custom_id": register_custom_id(event_id, "l")},
        {"type": 2, "style": 1, "label": "Check in", "custom_id": register_custom_id(event_id, "c")},
    ]
    return [{"type": 1, "components": buttons}]


def finished(event: Event) -> bool:
    """Over or cancelled: its announcement says so and offers no buttons."""
    return event.status in ("completed", "cancelled") or not event.is_active


def announcement(event: Event, *, host: str, registered: int, waitlisted: int) -> dict[str, Any]:
    """The announcement message as Discord's JSON (embeds and components), what the outbox posts and
    edits: Register / Leave / Check in while the event is to come or on, no buttons once it is over or
    cancelled. Its "digest" tells whether an edit would change what members see."""
    embed = event_embed(event, host=host, registered=registered, waitlisted=waitlisted)
    message = {"embeds": [embed.to_dict()], "components": [] if finished(event) else register_buttons(event.id)}
    message["digest"] = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()
    return message


def places(event: Event, registered: int, waitlisted: int) -> str:
    if event.max_participants is None:
        return f"{registered} registered"
    waiting = f", {waitlisted} waiting" if waitlisted else ""
    return f"{registered} / {event.max_participants}{waiting}"


def event_embed(event: Event, *, host: str, registered: int, waitlisted: int) -> discord.Embed:
    description = discord.utils.escape_markdown(event.description or "")[:2000]
    if finished(event):
        over = "**This event is over.**" if event.status == "completed" else "**This event was cancelled.**"
        description = f"{over}\n\n{description}".strip()
    embed = discord.Embed(
        title=bounded_title(event.title),  # the website writes titles too (TEXT, no bound)
        description=description or None,
        colour=0x95A5A6 if finished(event) else 0x5865F2,
    )
    when = discord.utils.format_dt(event.start_date, "F")
    if event.end_date:
        when += f" – {discord.utils.format_dt(event.end_date, 't')}"
    embed.add_field(name="When", value=f"{when} ({discord.utils.format_dt(event.start_date, 'R')})", inline=False)
    if event.voice_channel_id:
        embed.add_field(name="Where", value=f"<#{event.voice_channel_id}>")
    embed.add_field(name="Places", value=places(event, registered, waitlisted))
    embed.add_field(name="Host", value=host)
    needs = []
    if event.min_level:
        needs.append(f"level {event.min_level}")
    if event.required_pathway:
        needs.append(f"the {event.required_pathway} pathway")
    if event.required_roles:
        needs.append(", ".join(f"<@&{r}>" for r in event.required_roles))
    if event.registration_deadline:
        needs.append(f"register by {discord.utils.format_dt(event.registration_deadline, 'f')}")
    if needs:
        embed.add_field(name="To join", value=bounded("; ".join(needs), FIELD_MAX), inline=False)
    xp = int((event.rewards or {}).get("xp") or 0)
    if xp:
        embed.add_field(name="Reward", value=f"{xp:,} XP for attending")
    status = STATUS.get(event.status, event.status)
    if event.status == "cancelled" and event.cancelled_reason:
        status += f": {discord.utils.escape_markdown(event.cancelled_reason)[:200]}"
    embed.set_footer(text=bounded(f"{event.type[:100]} · {status} · id {event.id}", FOOTER_MAX))
    return embed


def list_embed(items: Sequence[Event], *, page: int, more: bool, pathway: str | None) -> discord.Embed:
    title = "Upcoming events" + (f" · {pathway}" if pathway else "")
    embed = discord.Embed(title=title, colour=0x5865F2)
    if not items:
        embed.description = "No upcoming events." if page == 1 else "No more events."
        return embed
    lines = []
    for e in items:
        when = discord.utils.format_dt(e.start_date, "f")
        seats = f" · {e.current_participants}/{e.max_participants}" if e.max_participants else ""
        now = " · happening now" if e.status == "ongoing" else ""
        lines.append(f"**{discord.utils.escape_markdown(e.title)}** · {when}{seats}{now}")
    embed.description = "\n".join(lines)
    embed.set_footer(text=f"page {page}" + (" · more on the next page" if more else ""))
    return embed

"""Event rules with no I/O: dates as hosts type them, an event's window, and who may register."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import MONTHLY, WEEKLY, rrule

from bot.rules.moderation import parse_duration

FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M")
MAX_AHEAD = timedelta(days=3 * 365)
MAX_LENGTH = timedelta(days=14)


class WhenError(ValueError):
    """The text is not a date and time the bot accepts; the message says what is."""


def parse_when(text: str, timezone: str) -> datetime:
    """'2026-12-05 20:00' (in the community's timezone) or ISO 8601 with an offset -> an aware datetime."""
    value = text.strip()
    if not value:
        raise WhenError("give a date and time, e.g. 2026-12-05 20:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise WhenError(
            f"'{value[:40]}' is not a date and time: write it like 2026-12-05 20:00 ({timezone}) "
            "or as ISO 8601 with an offset, e.g. 2026-12-05T20:00+01:00"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed


def check_window(start: datetime, end: datetime | None, now: datetime) -> None:
    """An event starts in the future (within three years) and, if it has an end, ends after it starts
    and within 14 days."""
    if start <= now:
        raise WhenError("the start is in the past")
    if start - now > MAX_AHEAD:
        raise WhenError("the start is more than three years away")
    if end is not None and end <= start:
        raise WhenError("the end is not after the start")
    if end is not None and end - start > MAX_LENGTH:
        raise WhenError("an event lasts at most 14 days")


@dataclass(frozen=True)
class Requirements:
    status: str
    starts_at: datetime
    deadline: datetime | None
    min_level: int
    required_pathway: str | None
    required_role_ids: Collection[int]


@dataclass(frozen=True)
class Candidate:
    level: int
    pathways: Collection[str]
    role_ids: Collection[int]
    sanction: str | None  # a ban, timeout or mute in force


def why_not_register(
    event: Requirements, member: Candidate, now: datetime, *, role_names: dict[int, str]
) -> str | None:
    """The reason a member may not register, or None."""
    if event.status == "cancelled":
        return "This event was cancelled."
    if event.status in ("completed", "draft") or (event.status == "ongoing" and event.starts_at <= now):
        return "Registration for this event is closed."
    if event.deadline is not None and now > event.deadline:
        return "The registration deadline has passed."
    if member.sanction is not None:
        return f"You can't register while a {member.sanction} is in force."
    if member.level < event.min_level:
        return f"This event needs level {event.min_level}; you are level {member.level}."
    if event.required_pathway and event.required_pathway not in member.pathways:
        return f"This event is for members of the {event.required_pathway} pathway (/pathway join)."
    missing = [r for r in event.required_role_ids if r not in member.role_ids]
    if missing:
        names = ", ".join(role_names.get(r, "a role") for r in missing)
        return f"This event needs the role(s): {names}."
    return None


def reminder_offsets(texts: Collection[str]) -> list[timedelta]:
    """'24h', '15m' ... -> offsets before the start, largest first (validated by the configuration)."""
    offsets = [parse_duration(t) for t in texts]
    return sorted({o for o in offsets if o is not None}, reverse=True)


REPEATS = {"weekly": (WEEKLY, 1), "biweekly": (WEEKLY, 2), "monthly": (MONTHLY, 1)}


def recurrence_pattern(
    repeat: str, until: datetime | None, *, series: str, start: datetime, template: dict[str, Any]
) -> dict[str, Any]:
    """The guide's recurrence_pattern ({frequency, interval, days, end_date}) for a repeat choice,
    with what the bot needs: the series (its first event's id), the anchor the rule counts from, this
    occurrence's slot in it, and the template later occurrences take (title, places, length)."""
    frequency, interval = REPEATS[repeat]
    return {
        "frequency": "weekly" if frequency == WEEKLY else "monthly",
        "interval": interval,
        "days": [],
        "end_date": until.isoformat() if until else None,
        "series": series,
        "anchor": start.isoformat(),
        "slot": start.isoformat(),
        "template": template,
    }


def next_occurrence(anchor: datetime, after: datetime, pattern: dict[str, Any], timezone: str) -> datetime | None:
    """The series' first occurrence after `after`, counted from `anchor` by the pattern (python-
    dateutil's rrule, the RFC 5545 rules Discord's recurrence_rule is a subset of), at the same local
    time across daylight saving; None past the pattern's end date."""
    zone = ZoneInfo(timezone)
    first = anchor.astimezone(zone).replace(tzinfo=None)
    frequency = WEEKLY if pattern.get("frequency") == "weekly" else MONTHLY
    rule = rrule(frequency, interval=int(pattern.get("interval") or 1), dtstart=first)
    following = rule.after(after.astimezone(zone).replace(tzinfo=None))
    if following is None:
        return None
    following = following.replace(tzinfo=zone)
    end = pattern.get("end_date")
    if end and following > datetime.fromisoformat(str(end)):
        return None
    return following

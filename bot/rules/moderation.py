"""Moderation rules with no I/O: durations as moderators type them, and who may act on whom."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

# Discord refuses a timeout longer than 28 days.
MAX_TIMEOUT = timedelta(days=28)
PERMANENT = ("permanent", "perm", "forever")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^(?:\s*\d+\s*[smhdw])+\s*$")
# Far beyond any sensible sanction, and inside what TIMESTAMPTZ and the minutes column hold.
MAX_DURATION = timedelta(days=3650)


class DurationError(ValueError):
    """The text is not a duration; the message says what is."""


def parse_duration(text: str) -> timedelta | None:
    """'10m', '2h', '7d', '1w', '1h30m' -> a timedelta; 'permanent' -> None."""
    value = text.strip().lower()
    if value in PERMANENT:
        return None
    if not value or not _WHOLE.match(value):
        raise DurationError(
            f"'{text[:40]}' is not a duration: use a number and a unit, e.g. 10m, 2h, 7d, 1w, 1h30m, or 'permanent'"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    if seconds <= 0:
        raise DurationError("a duration must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise DurationError("that is longer than ten years: use 'permanent'")
    return timedelta(seconds=seconds)


def capped_timeout(duration: timedelta | None) -> tuple[timedelta, bool]:
    """A timeout's length within Discord's 28 days (a permanent one is 28 days); True when capped."""
    if duration is None or duration > MAX_TIMEOUT:
        return MAX_TIMEOUT, True
    return duration, False


def format_duration(duration: timedelta | None) -> str:
    if duration is None:
        return "permanent"
    seconds = int(duration.total_seconds())
    parts = []
    for name, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{name}")
            seconds %= size
    return "".join(parts)


@dataclass(frozen=True)
class Party:
    """Who is involved in an action, as the rules see them."""

    id: int
    top_role_position: int
    is_bot: bool = False


def why_not(
    actor: Party,
    target: Party,
    me: Party,
    *,
    owner_id: int,
    bot_has_permission: bool,
    permission_name: str,
) -> str | None:
    """The refusal (worded for the moderator) when `actor` may not act on `target` through the bot
    `me`, else None: nobody acts on themselves, the bot, the server owner, or anyone whose top role
    is not below their own; and the bot needs the permission and a top role above the target's."""
    if target.id == actor.id:
        return "You can't moderate yourself."
    if target.id == me.id:
        return "I can't moderate myself."
    if target.id == owner_id:
        return "Nobody can moderate the server owner."
    if actor.id != owner_id and target.top_role_position >= actor.top_role_position:
        return "You can only moderate members whose highest role is below yours."
    if not bot_has_permission:
        return f"I need the {permission_name} permission for that; ask an admin to grant it."
    if target.top_role_position >= me.top_role_position:
        return "That member's highest role is not below mine, so Discord won't let me; ask an admin to move my role up."
    return None


class FloodWatch:
    """Per member, the times of their last `limit` messages: a flood is `limit` within `window` s.
    Memory: at most `limit` floats per member who chatted (entries of quiet members are dropped
    once stale, when `forget_stale` runs)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._times: dict[int, deque[float]] = {}

    def message(self, member_id: int, now: float) -> bool:
        times = self._times.get(member_id)
        if times is None:
            times = self._times[member_id] = deque(maxlen=self.limit)
        times.append(now)
        if len(times) == self.limit and now - times[0] <= self.window:
            times.clear()  # one trigger per flood
            return True
        return False

    def forget_stale(self, now: float) -> None:
        for member_id in [m for m, t in self._times.items() if not t or now - t[-1] > self.window]:
            del self._times[member_id]

"""The doors between features: what one cog offers the others, as typed interfaces the bot holds
(`bot.doors`). A cog registers its door when it loads; the others ask the bot for it (None while
that feature is not loaded), never for an attribute looked up by name. A door's lock is taken in
the one order bot/core/locks.py writes down."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # The types the doors name: a feature's own (the XP feature's reversals, pending grants and flush
    # outcome) only as types, since bot/ imports no cog at run time (tests/test_layers.py).
    import asyncio

    import asyncpg
    import discord

    from bot.rules.ranking import BoardKey
    from cogs.xp.adjustments import Reversal
    from cogs.xp.engine import FlushOutcome
    from cogs.xp.pending import Item
    from db import ledger


class XPDoor(Protocol):
    """The XP engine, as the other features use it: its lock (bot/core/locks.py: XP), its pending grants
    and voice clock, the rank index after a commit, and hooks told of voice minutes and stats."""

    @property
    def lock(self) -> asyncio.Lock: ...

    async def flush(self) -> FlushOutcome:
        """Write the pending grants now (takes the lock and lets it go)."""
        ...

    def add_voice_hook(self, hook: Callable[[dict[int, tuple[int, int]]], None]) -> None:
        """Told each voice tick's credited minutes: Discord id -> (channel id, minutes)."""
        ...

    def add_stats_hook(self, hook: Callable[[set[str]], None]) -> None:
        """Told which members' (users.id) stats a write changed."""
        ...

    def after_grants(self, result: ledger.GrantResult, members: dict[str, discord.Member]) -> None:
        """Once committed: the rank index moves and the stats hooks hear of it (under the lock)."""
        ...

    def move_boards(self, member: discord.Member, changes: list[ledger.BoardChange]) -> None:
        """Once a staff change committed: the rank index follows it."""
        ...

    async def after_reversals(self, reversals: list[Reversal]) -> None:
        """Once committed: the rank index follows reversals (taking back a message's XP, say)."""
        ...

    async def position(self, key: BoardKey, xp: int) -> int:
        """A total's place on a board (from the rank index when it holds the board)."""
        ...

    def drop_pending(self, discord_id: int) -> list[Item]:
        """Take a member's grants out of memory (an erasure); `keep_pending` puts them back."""
        ...

    def keep_pending(self, dropped: list[Item]) -> None: ...

    def forget_voice(self, discord_id: int) -> None:
        """Drop a member's partial voice minute (an erasure)."""
        ...


class AchievementsDoor(Protocol):
    """The achievement engine, as the other features use it."""

    def touch(self, user_ids: Iterable[str]) -> None:
        """These members' stats changed: evaluate them at the next flush."""
        ...

    async def after_imports(self) -> int:
        """Imported XP reaches achievements (once per import); returns the imports evaluated."""
        ...


class EventsAttendanceDoor(Protocol):
    """The events' attendance counter (voice minutes, check-ins, the attendance rewards)."""

    async def attended(self, mark: Callable[[asyncpg.Connection], Awaitable[list[tuple[str, str]]]]) -> int:
        """Mark attendance with `mark` (a connection -> the (event id, users.id) newly attended) and
        reward the new attendees in one transaction, under the XP lock; how many are new."""
        ...


class EventsMirrorDoor(Protocol):
    """The events' Discord mirror (scheduled events in the server)."""

    def nudge(self) -> None:
        """An event changed: the mirror follows within a moment."""
        ...


@dataclass
class Doors:
    """The doors the loaded features registered (None: that feature is not loaded)."""

    xp: XPDoor | None = None
    achievements: AchievementsDoor | None = None
    events_attendance: EventsAttendanceDoor | None = None
    events_mirror: EventsMirrorDoor | None = None

    def xp_lock(self) -> AbstractAsyncContextManager[object]:
        """The XP engine's lock, or nothing to hold without the XP feature."""
        return self.xp.lock if self.xp is not None else contextlib.nullcontext()

    def nudge_mirror(self) -> None:
        """After a change to an event: the Discord mirror, if loaded, follows within a moment."""
        if self.events_mirror is not None:
            self.events_mirror.nudge()

"""Attendance: a registrant counts as attended after [events] attend_minutes in the event's voice
channel while it is on (from the XP engine's voice minutes), or by checking in for an event without
voice. Each attendee gets the event's XP through the ledger once (source event) and events_attended
grows; registrants who never came are marked no-show when the event completes.

Bound: the voice minutes not yet written are one entry per (member, channel), written every 5 s; a
stop during an outage loses at most those minutes (attendance, not XP: XP is the ledger's)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg

from bot.writes.write_path import WriteHealth
from cogs.xp.grants import grant_in, grants_for, members_of
from db import events
from db.faults import is_outage

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)


class Attendance:
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.minutes: dict[tuple[int, int], int] = {}
        self.health = WriteHealth("event attendance")

    def credit(self, credited: dict[int, tuple[int, int]]) -> None:
        """The XP engine's voice hook: whole minutes per member and channel (memory only)."""
        for member_id, (channel_id, minutes) in credited.items():
            key = (member_id, channel_id)
            self.minutes[key] = self.minutes.get(key, 0) + minutes

    def forget(self, member_id: int, *_: object) -> None:
        """A member's voice minutes not written yet, dropped (erased)."""
        for key in [k for k in self.minutes if k[0] == member_id]:
            del self.minutes[key]

    async def flush(self, *, everything: bool = False) -> int:
        if not self.minutes or not self.health.may_try():
            return 0
        batch, self.minutes = self.minutes, {}
        credits = [(str(m), str(c), n) for (m, c), n in batch.items()]
        try:
            attended = await self.attended(
                lambda conn: events.credit_voice(conn, credits, self.bot.config.community.events.attend_minutes)
            )
        except BaseException as error:
            for key, n in batch.items():  # kept for the next try
                self.minutes[key] = self.minutes.get(key, 0) + n
            if not isinstance(error, Exception):
                raise
            if not is_outage(error) and not self.health.down:
                log.exception("event attendance could not be written; retrying with backoff")
            self.health.failed(error, kept=len(self.minutes))
            return 0
        self.health.succeeded(0)
        return attended

    async def attended(self, mark: Callable[[asyncpg.Connection], Awaitable[list[tuple[str, str]]]]) -> int:
        """Mark attendance with `mark` (a connection -> the (event id, users.id) newly attended) and
        reward the new attendees, in one transaction (under the XP engine's lock, so the rank index
        moves in commit order). Returns how many are new."""
        bot = self.bot
        results = []
        async with bot.doors.xp_lock():
            async with bot.pool.acquire() as conn, conn.transaction():
                newly = await mark(conn)
                by_event: dict[str, list[str]] = {}
                for event_id, user_id in newly:
                    by_event.setdefault(event_id, []).append(user_id)
                for event_id, user_ids in by_event.items():
                    event = await events.get(conn, event_id)
                    if event is None:
                        continue
                    await events.count_attended(conn, event, user_ids)
                    xp = int((event.rewards or {}).get("xp") or 0)
                    if xp > 0:
                        targets = await events.discord_ids(conn, user_ids)
                        members = members_of(bot, targets)
                        grants = grants_for(
                            bot, user_ids, "event", dict.fromkeys(user_ids, event.id), event.pathway, xp
                        )
                        result, _ = await grant_in(conn, bot, grants, members, reason=f"attended {event.title}")
                        results.append((result, members))
            for result, members in results:
                if bot.doors.xp is not None:
                    bot.doors.xp.after_grants(result, members)
        if newly:
            for event_id, user_id in newly:
                bot.analytics.record("event_attended", user_id=user_id, category="events", label=event_id)
            bot.outbox.wake()
            log.info("%d new event attendee(s)", len(newly))
        return len(newly)

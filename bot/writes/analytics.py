"""Analytics rows (the guide's `analytics` table) for what happens in Discord: joins and leaves,
level-ups, achievements, event registrations, pathway joins, commands. Recording is an append to
memory; a flush writes them in batches off the hot path.

Bound: at most `limit` rows wait in memory (20,000 by default, a few MB). Analytics are counts for
charts, never something a member was told was saved: when the database is away long enough to fill
the buffer, the oldest rows give way, and the number dropped is logged (once when it starts, once
with the total when writes recover). A stop during an outage keeps what waits in the local journal,
written at the next start."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from datetime import UTC, datetime

import asyncpg

from bot.writes.journal import Journal
from bot.writes.write_path import InFlight, WriteHealth, write_isolating
from db import stats
from db.faults import one_line

log = logging.getLogger(__name__)

BUFFER_LIMIT = 20_000
BATCH = 5_000
# The guide's event types and the bot's own (all in event_type; category says which feature).
EVENT_TYPES = frozenset(
    {
        "member_join",
        "member_leave",
        "level_up",
        "achievement_earned",
        "event_registered",
        "event_attended",
        "pathway_join",
        "pathway_leave",
        "command_used",
        "moderation_action",
    }
)


class Analytics:
    def __init__(self, pool: asyncpg.Pool, journal: Journal | None = None, *, limit: int = BUFFER_LIMIT) -> None:
        self.pool = pool
        self.journal = journal
        self.limit = limit
        self._pending: deque[stats.AnalyticsRow] = deque()
        self._lock = asyncio.Lock()
        self.health = WriteHealth("analytics writes")
        self.written = 0
        self.dropped = 0
        self.refused = 0
        self._dropping = False  # the buffer was full since the last successful write
        self.in_flight: InFlight[stats.AnalyticsRow] = InFlight()  # the batch a flush is writing

    def __len__(self) -> int:
        return len(self._pending)

    def record(
        self,
        event_type: str,
        *,
        user_id: str | None = None,
        discord_id: int | str | None = None,
        category: str | None = None,
        action: str | None = None,
        label: str | None = None,
        value: float | None = None,
        pathway: str | None = None,
        at: datetime | None = None,
    ) -> None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown analytics event type {event_type!r}")
        if len(self._pending) >= self.limit:
            self._pending.popleft()
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning(
                    "analytics buffer full (%d rows, writes failing): the oldest rows give way until writes recover",
                    self.limit,
                )
        self._pending.append(
            stats.AnalyticsRow(
                event_type,
                at or datetime.now(UTC),
                user_id,
                None if discord_id is None else str(discord_id),
                category,
                action,
                label,
                value,
                pathway,
            )
        )

    def forget_member(self, discord_id: int | str, user_id: str) -> int:
        """An erased member's rows still waiting lose the member (kept for the counts, as /erase
        does to the rows written and the journal's); returns how many."""
        found = 0
        for i, row in enumerate(self._pending):
            if row.user_id == user_id or row.discord_id == str(discord_id):
                self._pending[i] = dataclasses.replace(row, user_id=None, discord_id=None)
                found += 1
        return found

    def spill(self) -> str | None:
        """At a stop the database did not let us finish: what waits goes to the journal."""
        unwritten = self.in_flight.abandon()  # what a flush that cannot finish (a hung database) had taken
        if self.journal is None or not (self._pending or unwritten):
            return None
        rows, self._pending = unwritten + list(self._pending), deque()
        where = self.journal.spill(
            {
                "event_type": r.event_type,
                "at": r.at.isoformat(),
                "user_id": r.user_id,
                "discord_id": r.discord_id,
                "category": r.category,
                "action": r.action,
                "label": r.label,
                "value": r.value,
                "pathway": r.pathway,
            }
            for r in rows
        )
        return None if where is None else f"{where[1]} analytics row(s) kept in {where[0]} for the next start"

    def load_journal(self) -> int:
        """At start: rows a stop could not write wait again (written by the next flush)."""
        if self.journal is None:
            return 0
        restored = 0
        for path in self.journal.files():
            for r in self.journal.read(path):
                self._pending.append(stats.AnalyticsRow(**{**r, "at": datetime.fromisoformat(r["at"])}))
                restored += 1
            self.journal.done(path)
        return restored

    async def flush(self, *, everything: bool = False) -> int:
        """Write what is waiting, in batches of 5,000 (`everything`: the same; every row each time).
        A batch the database refuses is split until the refused row is alone; it is logged and
        skipped, the others are written. An outage keeps the rows (up to the bound) for the next try."""
        async with self._lock:
            if not self._pending or not self.health.may_try():
                return 0
            total = 0
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]

                async def write(rows: list[stats.AnalyticsRow]) -> None:
                    async with self.pool.acquire() as conn:
                        await stats.insert_analytics(conn, rows)

                progress = self.in_flight.start(batch)
                try:
                    outcome = await write_isolating(batch, write, id, result=progress)
                except BaseException:  # cancelled: what is not known to be written goes back
                    if not self.in_flight.abandoned:
                        written = {id(r) for r in progress.written}
                        self._pending.extendleft(reversed([r for r in batch if id(r) not in written]))
                    raise
                finally:
                    self.in_flight.done()
                total += len(outcome.written)
                for rows, error in outcome.refused:
                    self.refused += len(rows)
                    log.error("the database refused an analytics row (%s): %s; skipped", one_line(error), rows[0])
                if outcome.outage is not None:
                    if not self.in_flight.abandoned:
                        self._pending.extendleft(reversed(outcome.kept))
                    while len(self._pending) > self.limit:
                        self._pending.popleft()
                        self.dropped += 1
                    self.health.failed(outcome.outage, kept=len(self._pending))
                    break
            else:
                self._recovered(total)
            self.written += total
            return total

    def _recovered(self, written: int) -> None:
        self.health.succeeded(written)
        if self._dropping:
            log.warning("analytics: %d row(s) were dropped while the buffer was full", self.dropped)
            self._dropping = False

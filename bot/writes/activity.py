"""Chat activity: each message counted once in memory, written in batches (merged into the XP
flush when XP is loaded, else by a flush of its own). The hot path never waits for the database."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import discord

from bot.core.identity import Identity
from bot.writes.journal import Journal
from bot.writes.write_path import InFlight, WriteHealth, dead_letter, retry_with_fresh_rows, write_isolating
from db.activity import MessageActivity, record_messages
from db.faults import MissingRows
from db.stats import quarter_hour

log = logging.getLogger(__name__)

# How many recent message ids are remembered to count a redelivered message once (a RESUME replays
# at most what the gateway buffered for the session; this is far more). 8 bytes an id, ~10 MB.
SEEN_MESSAGES = 200_000


class SeenMessages:
    """The last `limit` message ids, to drop a redelivered event (set lookup plus a bounded queue)."""

    def __init__(self, limit: int = SEEN_MESSAGES) -> None:
        self._ids: set[int] = set()
        self._order: deque[int] = deque()
        self.limit = limit
        self.repeats = 0

    def first_time(self, message_id: int) -> bool:
        if message_id in self._ids:
            self.repeats += 1
            return False
        self._ids.add(message_id)
        self._order.append(message_id)
        if len(self._order) > self.limit:
            self._ids.discard(self._order.popleft())
        return True


@dataclass(slots=True)
class ChatCount:
    """One member's messages since the last flush, and when (per quarter hour: the server's daily
    counts put each on the day it was sent, db/stats.count_activity)."""

    discord_id: int
    member: discord.Member | None
    messages: int
    last_at: datetime
    user_id: str | None = None  # known when restored from the journal
    moments: dict[datetime, int] = field(default_factory=dict)  # quarter hour -> messages (empty: at last_at)

    def add(self, moment: datetime, messages: int = 1) -> None:
        self.messages += messages
        self.last_at = max(self.last_at, moment)
        quarter = quarter_hour(moment)
        self.moments[quarter] = self.moments.get(quarter, 0) + messages

    def merge(self, other: ChatCount) -> None:
        """Another count of the same member's (put back after a failed write) added to this one."""
        self.messages += other.messages
        self.last_at = max(self.last_at, other.last_at)
        self.user_id = self.user_id or other.user_id
        for quarter, n in other.quarter_hours().items():
            self.moments[quarter] = self.moments.get(quarter, 0) + n

    def quarter_hours(self) -> dict[datetime, int]:
        """Messages per quarter hour (a count restored without them: all at its last message)."""
        if sum(self.moments.values()) == self.messages:
            return dict(self.moments)
        return {quarter_hour(self.last_at): self.messages}

    def record(self) -> dict[str, Any]:
        return {
            "t": "count",
            "discord_id": self.discord_id,
            "user_id": self.user_id,
            "messages": self.messages,
            "last_at": self.last_at.isoformat(),
            "moments": {q.isoformat(): n for q, n in self.quarter_hours().items()},
        }

    @classmethod
    def restore(cls, record: dict[str, Any], member: discord.Member | None = None) -> ChatCount:
        """A count from its journal record (older records have no moments: at their last message)."""
        moments = {datetime.fromisoformat(q): int(n) for q, n in (record.get("moments") or {}).items()}
        last_at = datetime.fromisoformat(record["last_at"])
        return cls(int(record["discord_id"]), member, int(record["messages"]), last_at, record["user_id"], moments)


class ActivityBuffer:
    """Per-message work is a dict update; bounded by the number of members who chatted (one entry
    each, whatever the number of messages). `take()` hands the counts to the XP flush, which writes
    them with the XP in one statement per member; without XP, `flush()` writes them alone."""

    def __init__(self, pool: asyncpg.Pool, identity: Identity, health: WriteHealth, journal: Journal) -> None:
        self.pool = pool
        self.identity = identity
        self.health = health
        self.journal = journal
        self._pending: dict[int, ChatCount] = {}
        self._flush_lock = asyncio.Lock()
        self.in_flight: InFlight[ChatCount] = InFlight()  # what its own flush under way has taken
        self.flushed_messages = 0
        self.received = 0
        self.refused_writes = 0

    def message(self, member: discord.Member, at: datetime | None = None) -> None:
        self.received += 1
        entry = self._pending.get(member.id)
        moment = at or datetime.now(UTC)
        if entry is None:
            entry = self._pending[member.id] = ChatCount(member.id, member, 0, moment)
        entry.add(moment)
        entry.member = member

    @property
    def pending_messages(self) -> int:
        return sum(p.messages for p in self._pending.values())

    @property
    def pending_members(self) -> int:
        return len(self._pending)

    def has_pending(self, discord_id: int) -> bool:
        return discord_id in self._pending

    def take(self) -> list[ChatCount]:
        batch, self._pending = self._pending, {}
        return list(batch.values())

    @property
    def writing(self) -> asyncio.Lock:
        """Held while its own flush writes (/erase holds it too: no count of theirs is in flight)."""
        return self._flush_lock

    def drop(self, discord_id: int) -> list[ChatCount]:
        """The member's count not written yet, removed (an erasure); put_back undoes it."""
        entry = self._pending.pop(discord_id, None)
        return [entry] if entry is not None else []

    def take_for(self, discord_ids: set[int]) -> list[ChatCount]:
        """The counts of these members only (they are written anyway: their XP rides along)."""
        pending = self._pending
        return [pending.pop(i) for i in discord_ids if i in pending]

    def put_back(self, counts: list[ChatCount]) -> None:
        """Counts that were not written go back (merged with what arrived meanwhile)."""
        for entry in counts:
            current = self._pending.get(entry.discord_id)
            if current is None:
                self._pending[entry.discord_id] = entry
            else:
                current.merge(entry)

    def spill(self) -> str | None:
        """At a stop the database did not let us finish (counts written alone, without XP), with
        what a flush that cannot finish (a hung database) had taken and not written."""
        counts = self.in_flight.abandon() + self.take()
        where = self.journal.spill(c.record() for c in counts)
        if where is None:
            return None
        return f"{sum(c.messages for c in counts)} message count(s) kept in {where[0]} for the next start"

    def load_journal(self) -> int:
        """At start: counts a stop could not write come back into the buffer (written alone)."""
        restored = 0
        for path in self.journal.files():
            for r in self.journal.read(path):
                self.put_back([ChatCount.restore(r)])
                restored += int(r["messages"])
            self.journal.done(path)
        return restored

    def written(self, counts: list[ChatCount]) -> None:
        self.flushed_messages += sum(c.messages for c in counts)

    async def flush(self, *, everything: bool = False) -> int:
        """Write the counts alone (when XP is not loaded), isolating a member the database refuses
        (`everything` changes nothing here: every count is written at each flush)."""
        async with self._flush_lock:
            if not self._pending or not self.health.may_try():
                return 0
            batch = self.take()

            async def write(counts: list[ChatCount]) -> None:
                ids = await self.identity.ensure_many(c.member for c in counts if c.member is not None)
                for c in counts:  # a count restored without its member: known to the cache, maybe
                    if not (c.user_id or c.discord_id in ids) and (known := self.identity.cached(c.discord_id)):
                        ids[c.discord_id] = known
                unknown = [str(c.discord_id) for c in counts if not (c.user_id or c.discord_id in ids)]
                if unknown:  # restored for someone who left, whose row is gone too
                    raise MissingRows("users", unknown)
                rows = sorted(
                    (
                        MessageActivity(c.user_id or ids[c.discord_id], c.messages, c.last_at, c.quarter_hours())
                        for c in counts
                    ),
                    key=lambda r: r.user_id,
                )
                async with self.pool.acquire() as conn, conn.transaction():  # a refusal rolls back all of it
                    await record_messages(conn, rows)

            progress = self.in_flight.start(batch)
            try:
                outcome = await write_isolating(batch, write, lambda c: c.discord_id, result=progress)
                await retry_with_fresh_rows(outcome, write, lambda c: c.discord_id, self.identity)
            except BaseException:  # cancelled: what is not known to be written goes back (unless a stop kept it)
                if not self.in_flight.abandoned:
                    written = {id(c) for c in progress.written}
                    self.put_back([c for c in batch if id(c) not in written])
                raise
            finally:
                self.in_flight.done()
            self.written(outcome.written)
            if outcome.refused:
                try:
                    self.refused_writes += await dead_letter(
                        self.pool, self.identity, outcome.refused, lambda c: "activity"
                    )
                except Exception as error:  # the dead-letter write itself failed: keep them for the next try
                    outcome.kept.extend(c for group, _ in outcome.refused for c in group)
                    outcome.outage = outcome.outage or error
            if outcome.outage is not None:
                if not self.in_flight.abandoned:
                    self.put_back(outcome.kept)
                self.health.failed(outcome.outage, kept=self.pending_messages)
            elif outcome.written or outcome.refused:
                self.health.succeeded(sum(c.messages for c in outcome.written))
            return sum(c.messages for c in outcome.written)

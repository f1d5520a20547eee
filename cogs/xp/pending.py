"""What the XP flush has yet to write: grants decided on the hot path and chat counts, bounded in
memory, with the local journal for what an outage would not let it write."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.rules.xp import local_day
from bot.writes.activity import ChatCount
from bot.writes.journal import Journal
from bot.writes.write_path import InFlight

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

# The bound of grants kept in memory while the database cannot be written: past it, the oldest are
# spilled to the local journal (replayed first when the database answers, and at the next start).
# Chat adds at most one grant per member per cooldown and voice one per member per minute.
MAX_PENDING_GRANTS = 50_000
# A flush replays at most this many journal records (then the next flush goes on).
JOURNAL_RECORDS_PER_FLUSH = 50_000


@dataclass(slots=True)
class Pending:
    discord_id: int
    member: discord.Member | None  # None when restored from the journal for someone not in the guild
    source: str
    source_ref: str
    pathway: str | None
    amount: int
    at: datetime
    channel_id: int | None
    user_id: str | None = None  # known when restored from the journal

    def record(self) -> dict[str, Any]:
        return {
            "t": "grant",
            "discord_id": self.discord_id,
            "user_id": self.user_id,
            "source": self.source,
            "source_ref": self.source_ref,
            "pathway": self.pathway,
            "amount": self.amount,
            "at": self.at.isoformat(),
            "channel_id": self.channel_id,
        }


Item = Pending | ChatCount


class PendingWrites:
    """Grants in memory (at most `max_pending`, checked as each is added), the chat counts that ride
    with them, and the journal of what was spilled."""

    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.community = bot.config.community
        self._pending: list[Pending] = []
        self.journal = Journal(bot.config.data_dir / "journal" / "xp")
        self.max_pending = MAX_PENDING_GRANTS
        # Chat counts ride in the XP flush (one UPDATE per member per flush for both).
        self.activity = bot.chat_activity
        self._counts_due = 0.0
        self.in_flight: InFlight[Item] = InFlight()  # what the flush under way has taken

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, pending: Pending) -> None:
        self._pending.append(pending)
        if len(self._pending) > self.max_pending:
            self.keep_within_bound()  # only while writes fail (a flush empties the buffer every interval)

    def has_pending(self, discord_id: int) -> bool:
        """Whether this member has a grant or a chat count not written yet (a scan: at most
        max_pending grants, asked only when a member's figures are about to be shown)."""
        if self.activity is not None and self.activity.has_pending(discord_id):
            return True
        return any(p.discord_id == discord_id for p in self._pending)

    def drop(self, discord_id: int) -> list[Item]:
        """The member's grants and chat count not written yet, removed (an erasure, under the engine's
        lock: none of theirs is in flight); keep() undoes it."""
        dropped: list[Item] = [p for p in self._pending if p.discord_id == discord_id]
        if dropped:
            self._pending = [p for p in self._pending if p.discord_id != discord_id]
        if self.activity is not None:
            dropped += self.activity.drop(discord_id)
        return dropped

    def take(self, *, everything: bool) -> tuple[list[Pending], list[ChatCount]]:
        """The grants, and the counts to write with them."""
        grants, self._pending = self._pending, []
        return grants, self._counts_to_write(grants, everything=everything)

    def _counts_to_write(self, grants: list[Pending], *, everything: bool) -> list[ChatCount]:
        """Every count when they are due (activity_flush_seconds) or the buffer is being emptied;
        otherwise only those of members whose XP is written now (same statement, no extra row)."""
        if self.activity is None:
            return []
        now = time.monotonic()
        if everything or now >= self._counts_due:
            self._counts_due = now + self.community.activity_flush_seconds
            return self.activity.take()
        return self.activity.take_for({g.discord_id for g in grants})

    @property
    def activity_pending(self) -> int:
        return self.activity.pending_members if self.activity is not None else 0

    def has_grants_before(self, day: date) -> bool:
        """Any grant of a local day before `day` not written yet (in memory, or in the journal,
        whose files are not read for this: any of them counts)."""
        timezone = self.community.xp.timezone
        return bool(self.journal.files()) or any(local_day(p.at, timezone) < day for p in self._pending)

    def keep(self, items: list[Item]) -> None:
        """Put items back in front of what arrived meanwhile (they are older); not once a stop has
        kept the flush's batch in the journal (it would be kept twice)."""
        if self.in_flight.abandoned:
            return
        self._pending[:0] = [i for i in items if isinstance(i, Pending)]
        if self.activity is not None:
            self.activity.put_back([i for i in items if isinstance(i, ChatCount)])

    def keep_within_bound(self) -> None:
        """Past `max_pending`, the oldest grants (and the counts so far) go to the journal."""
        if len(self._pending) <= self.max_pending:
            return
        spilled = self._pending[: len(self._pending) - self.max_pending // 2]
        counts = self.activity.take() if self.activity is not None else []
        records = [p.record() for p in spilled] + [c.record() for c in counts]
        try:
            where = self.journal.spill(records)
        except OSError:
            log.exception("could not spill %d pending writes to the journal; keeping them in memory", len(records))
            if self.activity is not None:
                self.activity.put_back(counts)
            return
        del self._pending[: len(spilled)]
        if where is not None:
            log.warning(
                "%d pending writes spilled to %s (memory bound %d grants)", where[1], where[0], self.max_pending
            )

    def spill_all(self) -> str | None:
        """At a stop the database did not let us finish: keep everything in the journal, which the
        next start writes first, with what a flush that cannot finish (a hung database) had taken
        and not written. Returns what was kept, or None."""
        unwritten = self.in_flight.abandon()
        grants = [i for i in unwritten if isinstance(i, Pending)] + self._pending
        self._pending = []
        counts = [i for i in unwritten if isinstance(i, ChatCount)]
        counts += self.activity.take() if self.activity is not None else []
        where = self.journal.spill([p.record() for p in grants] + [c.record() for c in counts])
        if where is None:
            return None
        messages = sum(c.messages for c in counts)
        return f"{len(grants)} XP grant(s) and {messages} message count(s) kept in {where[0]} for the next start"

    def next_journal_batch(self) -> tuple[Path | None, list[Item], list[dict[str, Any]]]:
        """The oldest journal file's first records (restored), and the records left after them."""
        files = self.journal.files()
        if not files:
            return None, [], []
        path = files[0]
        try:
            records = self.journal.read(path)
            items = [self.restore(r) for r in records[:JOURNAL_RECORDS_PER_FLUSH]]
        except (OSError, ValueError, KeyError, TypeError):
            log.exception("journal file %s is unreadable; moved aside as %s.bad", path, path.name)
            path.rename(path.with_suffix(".bad"))
            return None, [], []
        return path, items, records[JOURNAL_RECORDS_PER_FLUSH:]

    def restore(self, record: dict[str, Any]) -> Item:
        guild = self.bot.home_guild
        discord_id = int(record["discord_id"])
        member = guild.get_member(discord_id) if guild is not None else None
        if record["t"] == "count":
            return ChatCount.restore(record, member)
        return Pending(
            discord_id,
            member,
            record["source"],
            record["source_ref"],
            record["pathway"],
            int(record["amount"]),
            datetime.fromisoformat(record["at"]),
            record["channel_id"],
            record["user_id"],
        )

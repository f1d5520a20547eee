"""Activity counters written in batches (the hot path never waits for the database per message)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from db import stats
from db.faults import MissingRows
from db.types import Executor


@dataclass(frozen=True)
class MessageActivity:
    user_id: str
    messages: int
    last_at: datetime
    moments: Mapping[datetime, int] | None = None  # messages per quarter hour (None: all at last_at)

    def per_quarter_hour(self) -> dict[datetime, int]:
        return stats.by_quarter_hour(self.moments.items() if self.moments else [(self.last_at, self.messages)])


async def record_messages(conn: Executor, batch: Sequence[MessageActivity]) -> int:
    """Add message counts and last activity for many members in one statement; returns rows updated.
    Raises MissingRows when a member's profile is gone (an UPDATE alone would drop their counts)."""
    if not batch:
        return 0
    rows = await conn.fetch(
        """
        UPDATE user_profiles up
           SET message_count = up.message_count + b.messages,
               last_active = GREATEST(up.last_active, b.last_at)
          FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS b(user_id, messages, last_at)
         WHERE up.user_id = b.user_id
        RETURNING up.user_id
        """,
        [a.user_id for a in batch],
        [a.messages for a in batch],
        [a.last_at for a in batch],
    )
    if len(rows) != len(batch):
        raise MissingRows("user_profiles", sorted({a.user_id for a in batch} - {r["user_id"] for r in rows}))
    await stats.count_activity(conn, stats.by_quarter_hour(m for a in batch for m in a.per_quarter_hour().items()), {})
    return len(rows)

"""Chat activity, counted in memory per message and written in one batch per interval."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import discord

from bot.identity import Identity
from db.activity import MessageActivity, record_messages

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    member: discord.Member
    messages: int
    last_at: datetime


class ActivityBuffer:
    """Per-message work is a dict update; `flush()` writes everything buffered in two statements.

    A graceful stop flushes; a hard kill loses at most one flush interval of counts.
    """

    def __init__(self, pool: asyncpg.Pool, identity: Identity) -> None:
        self.pool = pool
        self.identity = identity
        self._pending: dict[int, _Pending] = {}
        self._flush_lock = asyncio.Lock()
        self.flushed_messages = 0
        self.received = 0

    def message(self, member: discord.Member, at: datetime | None = None) -> None:
        self.received += 1
        entry = self._pending.get(member.id)
        moment = at or datetime.now(UTC)
        if entry is None:
            self._pending[member.id] = _Pending(member, 1, moment)
        else:
            entry.messages += 1
            entry.last_at = moment
            entry.member = member

    @property
    def pending_messages(self) -> int:
        return sum(p.messages for p in self._pending.values())

    async def flush(self) -> int:
        """Write what is buffered; on failure the counts go back into the buffer for the next try."""
        async with self._flush_lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            try:
                ids = await self.identity.ensure_many(p.member for p in batch.values())
                rows = sorted(
                    (MessageActivity(ids[k], p.messages, p.last_at) for k, p in batch.items()), key=lambda r: r.user_id
                )
                await record_messages(self.pool, rows)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                log.exception("activity flush failed; keeping %d members' counts for the next flush", len(batch))
                for key, entry in batch.items():
                    current = self._pending.get(key)
                    if current is None:
                        self._pending[key] = entry
                    else:
                        current.messages += entry.messages
                raise
            written = sum(p.messages for p in batch.values())
            self.flushed_messages += written
            return written

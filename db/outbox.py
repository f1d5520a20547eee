"""The durable outbox of Discord side effects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.leader import Fence, fence_args, fence_sql
from db.types import Executor

KINDS = (
    "add_role",
    "remove_role",
    "dm",
    "channel_message",
    "ban",
    "unban",
    "kick",
    "timeout",
    "delete_messages",
    "edit_message",
)
GUILD_ACTIONS = ("add_role", "remove_role", "ban", "unban", "kick", "timeout", "delete_messages")


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    status: str
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    # Set by the worker once delivered (not a column): the message it posted, {"channel_id", "id"}.
    sent: dict[str, str] | None = None


_COLUMNS = "id, kind, payload, attempts, status, last_error, created_at, delivered_at"


async def enqueue(conn: Executor, kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> int | None:
    """Queue a side effect; call inside the transaction of the change that causes it.
    Returns the id, or None when an item with the same dedupe_key exists already."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    return await conn.fetchval(
        """
        INSERT INTO outbox (kind, payload, dedupe_key) VALUES ($1, $2, $3)
        ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
        """,
        kind,
        payload,
        dedupe_key,
    )


async def claim_due(conn: asyncpg.Connection, fence: Fence | None = None) -> OutboxItem | None:
    """Lock the oldest due pending item (inside the caller's transaction); others skip it. With a
    fence, only while that lease is held (a leader that lost it claims nothing)."""
    fenced = f"AND {fence_sql(1)}" if fence is not None else ""
    row = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM outbox
        WHERE status = 'pending' AND next_attempt_at <= NOW() {fenced}
        ORDER BY next_attempt_at, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
        """,
        *(fence_args(fence) if fence is not None else ()),
    )
    return OutboxItem(**dict(row)) if row else None


async def mark_delivered(conn: Executor, item_id: int) -> None:
    await conn.execute(
        """UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = NOW(),
                             last_error = NULL WHERE id = $1""",
        item_id,
    )


async def mark_retry(conn: Executor, item_id: int, *, delay_seconds: float, error: str) -> None:
    await conn.execute(
        """UPDATE outbox SET attempts = attempts + 1, last_error = $3,
                             next_attempt_at = NOW() + make_interval(secs => $2) WHERE id = $1""",
        item_id,
        delay_seconds,
        error,
    )


async def mark_failed(conn: Executor, item_id: int, *, error: str) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1",
        item_id,
        error,
    )


async def pending_until(conn: Executor, item_ids: list[int]) -> datetime | None:
    """When the last of these items still pending is next tried; None once all are settled (or gone)."""
    return await conn.fetchval(
        "SELECT max(next_attempt_at) FROM outbox WHERE id = ANY($1::bigint[]) AND status = 'pending'", item_ids
    )


# What an item about an erased member keeps (its place in the record, none of them): the rest of
# the payload, their Discord id and any text sent to them, goes.
TOMBSTONE = """jsonb_build_object('erased', true) || COALESCE(
    (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(payload) AS e
     WHERE e.key = ANY('{guild_id,channel_id,role_id,case_id,appeal_case_id}'::text[])), '{}'::jsonb)"""


async def tombstone_if_settled(conn: Executor, item_id: int) -> None:
    """An item flagged erase_after (its member was erased while it was pending), once settled."""
    await conn.execute(
        f"UPDATE outbox SET payload = {TOMBSTONE} WHERE id = $1 AND status <> 'pending' AND payload ? 'erase_after'",
        item_id,
    )


async def pending_ids(conn: Executor, dedupe_key: str, *, prefixes: list[str] | tuple[str, ...] = ()) -> list[int]:
    """Every still-pending item with this dedupe key (or one starting with one of `prefixes`), oldest
    first: what an undo must wait for, all of them (the newest alone would let an older one, still
    retried, land after the undo)."""
    return await conn.fetchval(
        """SELECT COALESCE(array_agg(id ORDER BY id), '{}') FROM outbox
           WHERE status = 'pending'
             AND (dedupe_key = $1
                  OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS p WHERE starts_with(dedupe_key, p)))""",
        dedupe_key,
        list(prefixes),
    )


async def newer_applying(conn: Executor, item_id: int, kind: str, sanction_id: int) -> int | None:
    """An item queued after `item_id` that applies the same sanction with the same kind of effect
    (a later change of one timeout): the older one is stale. Only newer rows are read (the key)."""
    return await conn.fetchval(
        """SELECT min(id) FROM outbox
           WHERE id > $1 AND kind = $2 AND payload ->> 'applies' = $3::bigint::text""",
        item_id,
        kind,
        sanction_id,
    )


async def newer_edit(conn: Executor, item_id: int, message_id: str) -> int | None:
    """An edit of the same message queued after `item_id`: it carries a newer state, so the older one
    is not sent (edits of one message coalesce to the latest)."""
    return await conn.fetchval(
        """SELECT min(id) FROM outbox
           WHERE kind = 'edit_message' AND payload ->> 'message_id' = $2 AND id > $1""",
        item_id,
        message_id,
    )


async def status_of(conn: Executor, dedupe_key: str) -> str | None:
    """The status of the item with this dedupe key (None: no such item)."""
    return await conn.fetchval("SELECT status FROM outbox WHERE dedupe_key = $1", dedupe_key)


async def pending_for_members(conn: Executor, kinds: tuple[str, ...]) -> set[str]:
    """The members with an item of these kinds still pending (their state in Discord is about to change)."""
    rows = await conn.fetch(
        "SELECT DISTINCT payload ->> 'user_id' AS user_id FROM outbox WHERE status = 'pending' AND kind = ANY($1)",
        list(kinds),
    )
    return {r["user_id"] for r in rows if r["user_id"]}


async def postpone(conn: Executor, item_id: int, until: datetime) -> None:
    """Try an item later without counting an attempt (it waits for the item before it)."""
    await conn.execute("UPDATE outbox SET next_attempt_at = $2 WHERE id = $1", item_id, until)


async def next_due_in(conn: Executor) -> float | None:
    """Seconds until the next pending item is due (0 if one is due now), None if none is pending."""
    seconds = await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - NOW())::float8 FROM outbox WHERE status = 'pending'"
    )
    return None if seconds is None else max(0.0, seconds)


async def get(conn: Executor, item_id: int) -> OutboxItem | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM outbox WHERE id = $1", item_id)
    return OutboxItem(**dict(row)) if row else None


async def items(conn: Executor, *, status: str | None = None) -> list[OutboxItem]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM outbox WHERE $1::text IS NULL OR status = $1 ORDER BY id", status)
    return [OutboxItem(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending_seconds: float | None
    failed: int
    refused: int


async def backlog(conn: Executor) -> Backlog:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
                  EXTRACT(EPOCH FROM NOW() - min(created_at) FILTER (WHERE status = 'pending'))::float8 AS oldest,
                  count(*) FILTER (WHERE status = 'failed') AS failed,
                  count(*) FILTER (WHERE status = 'refused') AS refused
           FROM outbox"""
    )
    return Backlog(row["pending"], row["oldest"], row["failed"], row["refused"])


async def mark_refused(conn: Executor, item_id: int, *, error: str) -> None:
    await conn.execute("UPDATE outbox SET status = 'refused', last_error = $2 WHERE id = $1", item_id, error)


async def requeue(conn: Executor, item_id: int) -> bool:
    """Deliver a failed or refused item again (staff replaying a dead letter)."""
    result = await conn.execute(
        """UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = NOW()
           WHERE id = $1 AND status <> 'delivered'""",
        item_id,
    )
    return result.endswith(" 1")

"""Each event's announcement message in Discord and the state it shows (migration 036): recorded when
the outbox posts it, compared with the event's row to find the announcements to edit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.types import Executor


@dataclass(frozen=True)
class Shown:
    """What an announcement shows (or is about to): compared with the event's current state."""

    registered: int
    waitlisted: int
    status: str
    version: datetime
    digest: str


@dataclass(frozen=True)
class Announcement:
    event_id: str
    channel_id: str
    message_id: str
    revision: int
    gone: bool
    shown: Shown | None


_COLUMNS = """event_id::text AS event_id, channel_id, message_id, revision, gone_at IS NOT NULL AS gone,
              shown_registered, shown_waitlisted, shown_status, shown_version, shown_digest"""


def _announcement(row: dict) -> Announcement:
    shown = None
    if row["shown_digest"] is not None:
        shown = Shown(
            row["shown_registered"],
            row["shown_waitlisted"],
            row["shown_status"],
            row["shown_version"],
            row["shown_digest"],
        )
    return Announcement(row["event_id"], row["channel_id"], row["message_id"], row["revision"], row["gone"], shown)


async def current(conn: Executor, event_id: str) -> Shown | None:
    """The event's state now, as an announcement would show it (its digest left to the renderer);
    None when the event no longer exists."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM event_registrations r
                   WHERE r.event_id = e.id AND r.status IN ('registered', 'attended'))::int AS registered,
                  (SELECT count(*) FROM event_registrations r
                   WHERE r.event_id = e.id AND r.status = 'waitlisted')::int AS waitlisted,
                  CASE WHEN e.is_active THEN e.status ELSE 'cancelled' END AS status, e.updated_at AS version
           FROM events e WHERE e.id = $1::uuid""",
        event_id,
    )
    if row is None:
        return None
    return Shown(row["registered"], row["waitlisted"], row["status"], row["version"], "")


async def record(conn: Executor, event_id: str, channel_id: str, message_id: str, shown: Shown) -> None:
    """The announcement was posted (in the transaction that marks its outbox item delivered)."""
    await conn.execute(
        """INSERT INTO event_announcements (event_id, channel_id, message_id, shown_registered, shown_waitlisted,
                                            shown_status, shown_version, shown_digest)
           VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (event_id) DO UPDATE SET channel_id = EXCLUDED.channel_id, message_id = EXCLUDED.message_id,
               shown_registered = EXCLUDED.shown_registered, shown_waitlisted = EXCLUDED.shown_waitlisted,
               shown_status = EXCLUDED.shown_status, shown_version = EXCLUDED.shown_version,
               shown_digest = EXCLUDED.shown_digest, gone_at = NULL, posted_at = NOW()""",
        event_id,
        channel_id,
        message_id,
        shown.registered,
        shown.waitlisted,
        shown.status,
        shown.version,
        shown.digest,
    )


async def get(conn: Executor, event_id: str, *, lock: bool = False) -> Announcement | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM event_announcements WHERE event_id = $1::uuid" + (" FOR UPDATE" if lock else ""),
        event_id,
    )
    return _announcement(dict(row)) if row else None


async def showing(conn: Executor, event_id: str, shown: Shown) -> int:
    """The announcement now shows `shown` (an edit of it is being queued): its new revision."""
    return await conn.fetchval(
        """UPDATE event_announcements SET shown_registered = $2, shown_waitlisted = $3, shown_status = $4,
                  shown_version = $5, shown_digest = $6, revision = revision + 1
           WHERE event_id = $1::uuid RETURNING revision""",
        event_id,
        shown.registered,
        shown.waitlisted,
        shown.status,
        shown.version,
        shown.digest,
    )


async def forget_shown(conn: Executor, message_id: str) -> None:
    """An edit failed for good: what the message shows is not known, the next check sends it again."""
    await conn.execute(
        """UPDATE event_announcements SET shown_registered = NULL, shown_waitlisted = NULL, shown_status = NULL,
                  shown_version = NULL, shown_digest = NULL WHERE message_id = $1""",
        message_id,
    )


async def mark_gone(conn: Executor, message_id: str) -> None:
    """Discord has no such message any more (deleted by a moderator): it is never edited again."""
    await conn.execute(
        "UPDATE event_announcements SET gone_at = NOW() WHERE message_id = $1 AND gone_at IS NULL", message_id
    )


async def stale(conn: Executor) -> list[str]:
    """The events whose announcement shows another state than the row's (a change made elsewhere, the
    website's registrations): their ids. Announcements of events finished over two days ago are left."""
    rows = await conn.fetch(
        """SELECT a.event_id::text AS event_id
           FROM event_announcements a JOIN events e ON e.id = a.event_id
           CROSS JOIN LATERAL (
             SELECT count(*) FILTER (WHERE r.status IN ('registered', 'attended'))::int AS registered,
                    count(*) FILTER (WHERE r.status = 'waitlisted')::int AS waitlisted
             FROM event_registrations r WHERE r.event_id = e.id) n
           WHERE a.gone_at IS NULL
             AND (e.status IN ('upcoming', 'ongoing') OR e.updated_at > NOW() - interval '2 days')
             AND (a.shown_digest IS NULL
                  OR a.shown_status IS DISTINCT FROM (CASE WHEN e.is_active THEN e.status ELSE 'cancelled' END)
                  OR a.shown_version IS DISTINCT FROM e.updated_at
                  OR a.shown_registered IS DISTINCT FROM n.registered
                  OR a.shown_waitlisted IS DISTINCT FROM n.waitlisted)
           ORDER BY e.start_date"""
    )
    return [r["event_id"] for r in rows]

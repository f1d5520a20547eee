"""Community events (the guide's events, event_registrations and active_events) and what the bot
schedules for them. Registration is one transaction under the event's row lock: capacity is never
exceeded, the waitlist is first come first served, and current_participants / participants always
equal the registered set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.types import Executor


@dataclass(frozen=True)
class Event:
    id: str
    title: str
    description: str | None
    type: str
    pathway: str | None
    start_date: datetime
    end_date: datetime | None
    location_type: str
    voice_channel_id: str | None
    max_participants: int | None
    current_participants: int
    registration_deadline: datetime | None
    host_id: str | None
    co_hosts: list[Any]
    required_roles: list[Any]
    required_pathway: str | None
    min_level: int
    rewards: dict[str, Any]
    status: str
    is_active: bool
    cancelled_reason: str | None
    recurring: bool = False
    recurrence_pattern: dict[str, Any] | None = None
    discord_event_id: str | None = None


_COLUMNS = """id::text AS id, title, description, type, pathway, start_date, end_date, location_type, voice_channel_id,
              max_participants, current_participants, registration_deadline, host_id, co_hosts, required_roles,
              required_pathway, COALESCE(min_level, 0) AS min_level, COALESCE(rewards, '{}'::jsonb) AS rewards,
              status, is_active, cancelled_reason, COALESCE(recurring, false) AS recurring, recurrence_pattern,
              discord_event_id"""


async def create(conn: Executor, **fields: Any) -> Event:
    columns = list(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO events ({', '.join(columns)}) VALUES ({placeholders}) RETURNING {_COLUMNS}",
        *fields.values(),
    )
    return Event(**dict(row))


EDITABLE = (
    "recurrence_pattern",
    "title",
    "description",
    "type",
    "pathway",
    "start_date",
    "end_date",
    "voice_channel_id",
    "max_participants",
    "registration_deadline",
    "min_level",
    "required_pathway",
    "location_type",
)


async def update(conn: Executor, event_id: str, **fields: Any) -> Event | None:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
    row = await conn.fetchrow(
        f"UPDATE events SET {sets} WHERE id = $1::uuid RETURNING {_COLUMNS}", event_id, *fields.values()
    )
    return Event(**dict(row)) if row else None


async def get(conn: Executor, event_id: str, *, lock: bool = False) -> Event | None:
    try:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM events WHERE id = $1::uuid" + (" FOR UPDATE" if lock else ""), event_id
        )
    except asyncpg.DataError:  # not a uuid
        return None
    return Event(**dict(row)) if row else None


async def listed(conn: Executor, *, pathway: str | None, offset: int, limit: int) -> list[Event]:
    """Upcoming and ongoing events from the guide's active_events view, soonest first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM active_events
            WHERE status IN ('upcoming', 'ongoing') AND ($1::text IS NULL OR pathway = $1)
            ORDER BY start_date, id OFFSET $2 LIMIT $3""",
        pathway,
        offset,
        limit,
    )
    return [Event(**dict(r)) for r in rows]


async def search(conn: Executor, typed: str, *, limit: int = 25) -> list[Event]:
    """Upcoming and ongoing events whose title contains what was typed (autocomplete)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events
            WHERE is_active AND status IN ('upcoming', 'ongoing') AND strpos(lower(title), lower($1)) > 0
            ORDER BY start_date LIMIT $2""",
        typed,
        limit,
    )
    return [Event(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Registration:
    status: str  # registered, waitlisted, ...
    position: int | None  # place in the waitlist (1 = next), when waitlisted
    changed: bool  # False: the member was registered or waiting already


async def register(conn: asyncpg.Connection, event_id: str, user_id: str, capacity: int | None) -> Registration:
    """Register a member, or put them on the waitlist when the event is full; call in a transaction
    that locked the event row (get(lock=True)). The rules are event_register()'s (migration 030), the
    website's registrations' too."""
    row = await conn.fetchrow("SELECT * FROM event_register($1::uuid, $2, $3)", event_id, user_id, capacity)
    return Registration(row["registration_status"], row["waitlist_position"], row["changed"])


async def leave(
    conn: asyncpg.Connection, event_id: str, user_id: str, capacity: int | None
) -> tuple[str | None, str | None]:
    """Cancel a member's registration (or place in the waitlist); a freed place goes to the first
    waiting. Returns (their status before, the promoted member's users.id). In a transaction that
    locked the event row."""
    row = await conn.fetchrow("SELECT * FROM event_leave($1::uuid, $2, $3)", event_id, user_id, capacity)
    promoted = row["promoted_user_ids"]
    return row["status_before"], promoted[0] if promoted else None


async def fill_places(conn: asyncpg.Connection, event_id: str, capacity: int | None) -> list[str]:
    """Promote the first waiting members into free places (a leave, a raised capacity)."""
    rows = await conn.fetch("SELECT promoted_user_id FROM event_fill_places($1::uuid, $2)", event_id, capacity)
    return [r["promoted_user_id"] for r in rows]


async def _sync_participants(conn: Executor, event_id: str) -> None:
    """events.current_participants and participants follow the registered set (in the same transaction)."""
    await conn.execute("SELECT event_sync_participants($1::uuid)", event_id)


@dataclass(frozen=True)
class Counts:
    registered: int
    waitlisted: int


async def counts(conn: Executor, event_id: str) -> Counts:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status IN ('registered', 'attended')) AS registered,
                  count(*) FILTER (WHERE status = 'waitlisted') AS waitlisted
           FROM event_registrations WHERE event_id = $1::uuid""",
        event_id,
    )
    return Counts(row["registered"], row["waitlisted"])


@dataclass(frozen=True)
class Registrant:
    user_id: str
    discord_id: str
    status: str
    reminders: bool


async def registrants(conn: Executor, event_id: str, *, statuses: tuple[str, ...]) -> list[Registrant]:
    rows = await conn.fetch(
        """SELECT r.user_id, u.discord_id, r.status, r.reminders FROM event_registrations r
           JOIN users u ON u.id = r.user_id
           WHERE r.event_id = $1::uuid AND r.status = ANY($2::text[]) ORDER BY r.registered_at, r.id""",
        event_id,
        list(statuses),
    )
    return [Registrant(**dict(r)) for r in rows]


async def set_reminders(conn: Executor, event_id: str, user_id: str, on: bool) -> bool:
    status = await conn.execute(
        """UPDATE event_registrations SET reminders = $3
           WHERE event_id = $1::uuid AND user_id = $2 AND status IN ('registered', 'waitlisted')""",
        event_id,
        user_id,
        on,
    )
    return status != "UPDATE 0"


async def set_status(conn: Executor, event_id: str, status: str, *, reason: str | None = None) -> None:
    await conn.execute(
        """UPDATE events SET status = $2, cancelled_reason = COALESCE($3, cancelled_reason),
                  is_active = (CASE WHEN $2 = 'cancelled' THEN false ELSE is_active END)
           WHERE id = $1::uuid""",
        event_id,
        status,
        reason,
    )


# -- what the bot scheduled ----------------------------------------------------------------------


async def unscheduled(conn: Executor) -> list[Event]:
    """Upcoming or ongoing events whose times the bot has not scheduled (new, or edited, e.g. by the website)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events e
            WHERE e.is_active AND e.status IN ('upcoming', 'ongoing')
              AND NOT EXISTS (SELECT 1 FROM event_schedules s WHERE s.event_id = e.id
                              AND s.start_date = e.start_date AND s.end_date IS NOT DISTINCT FROM e.end_date)
            ORDER BY e.start_date"""
    )
    return [Event(**dict(r)) for r in rows]


async def mark_scheduled(conn: Executor, event: Event) -> None:
    await conn.execute(
        """INSERT INTO event_schedules (event_id, start_date, end_date) VALUES ($1::uuid, $2, $3)
           ON CONFLICT (event_id) DO UPDATE SET start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
                                                scheduled_at = NOW()""",
        event.id,
        event.start_date,
        event.end_date,
    )


# -- attendance ----------------------------------------------------------------------------------


async def credit_voice(conn: Executor, credits: list[tuple[str, str, int]], threshold: int) -> list[tuple[str, str]]:
    """Add voice minutes (discord id, channel id, minutes) to the registrations of the ongoing events
    in those channels; a registrant reaching `threshold` minutes is attended. Returns the (event id,
    users.id) newly attended (in the caller's transaction)."""
    if not credits:
        return []
    rows = await conn.fetch(
        """WITH credit AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) AS c(discord_id, channel_id, minutes)),
           hits AS (
             SELECT r.id, c.minutes FROM credit c
             JOIN users u ON u.discord_id = c.discord_id
             JOIN events e ON e.voice_channel_id = c.channel_id AND e.status = 'ongoing' AND e.is_active
             JOIN event_registrations r ON r.event_id = e.id AND r.user_id = u.id
                                       AND r.status IN ('registered', 'attended'))
           UPDATE event_registrations r
              SET voice_minutes = r.voice_minutes + h.minutes,
                  status = CASE WHEN r.status = 'registered' AND r.voice_minutes + h.minutes >= $4
                                THEN 'attended' ELSE r.status END,
                  attended_at = CASE WHEN r.status = 'registered' AND r.voice_minutes + h.minutes >= $4
                                     THEN NOW() ELSE r.attended_at END
             FROM hits h WHERE r.id = h.id
           RETURNING r.event_id::text AS event_id, r.user_id, r.attended_at = NOW() AS newly""",
        [c[0] for c in credits],
        [c[1] for c in credits],
        [c[2] for c in credits],
        threshold,
    )
    return [(r["event_id"], r["user_id"]) for r in rows if r["newly"]]


async def check_in(conn: Executor, event_id: str, user_id: str) -> str | None:
    """A registrant checks in (events without voice): attended now. Returns their status before."""
    return await conn.fetchval(
        """UPDATE event_registrations r SET status = 'attended', attended_at = NOW()
           FROM (SELECT id, status FROM event_registrations WHERE event_id = $1::uuid AND user_id = $2 FOR UPDATE) old
           WHERE r.id = old.id AND old.status = 'registered'
           RETURNING old.status""",
        event_id,
        user_id,
    )


async def count_attended(conn: Executor, event: Event, user_ids: list[str]) -> None:
    """events_attended grows for each attendee (their profile, and the event's pathway if they have it)."""
    await conn.execute(
        "UPDATE user_profiles SET events_attended = events_attended + 1 WHERE user_id = ANY($1::text[])", user_ids
    )
    if event.pathway:
        await conn.execute(
            """UPDATE pathway_progress SET events_attended = events_attended + 1
               WHERE user_id = ANY($1::text[]) AND pathway_id = $2""",
            user_ids,
            event.pathway,
        )


async def mark_no_shows(conn: Executor, event_id: str) -> int:
    status = await conn.execute(
        "UPDATE event_registrations SET status = 'no-show' WHERE event_id = $1::uuid AND status = 'registered'",
        event_id,
    )
    return int(status.split()[-1])


async def discord_ids(conn: Executor, user_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT id, discord_id FROM users WHERE id = ANY($1::text[])", user_ids)
    return {r["id"]: r["discord_id"] for r in rows}


# -- ratings ---------------------------------------------------------------------------------------


async def rate(conn: Executor, event_id: str, user_id: str, rating: int, comments: str | None) -> str | None:
    """An attendee's rating (1-5) and feedback; returns their registration status (the caller refuses
    non-attendees before: a rating is written only for 'attended')."""
    return await conn.fetchval(
        """WITH reg AS (SELECT id, status FROM event_registrations WHERE event_id = $1::uuid AND user_id = $2),
           written AS (
             UPDATE event_registrations r SET rating = $3,
                    feedback = COALESCE(r.feedback, '{}'::jsonb) || jsonb_build_object('comments', $4::text)
             FROM reg WHERE r.id = reg.id AND reg.status = 'attended' RETURNING r.id)
           SELECT status FROM reg""",
        event_id,
        user_id,
        rating,
        comments,
    )


@dataclass(frozen=True)
class Ratings:
    average: float | None
    count: int


async def ratings(conn: Executor, event_id: str) -> Ratings:
    row = await conn.fetchrow(
        """SELECT avg(rating)::float8 AS average, count(rating) AS count
           FROM event_registrations WHERE event_id = $1::uuid""",
        event_id,
    )
    return Ratings(row["average"], row["count"])


@dataclass(frozen=True)
class HostRecord:
    events: int
    average: float | None
    ratings: int


async def host_record(conn: Executor, host_id: str) -> HostRecord:
    """A host's completed events and the ratings their attendees gave."""
    row = await conn.fetchrow(
        """SELECT count(DISTINCT e.id) AS events, avg(r.rating)::float8 AS average, count(r.rating) AS ratings
           FROM events e LEFT JOIN event_registrations r ON r.event_id = e.id
           WHERE e.host_id = $1 AND e.status = 'completed'""",
        host_id,
    )
    return HostRecord(row["events"], row["average"], row["ratings"])


async def next_in_series(
    conn: Executor, event: Event, start: datetime, end: datetime | None, pattern: dict[str, Any]
) -> Event | None:
    """The series' next occurrence, copied from `event` with its own times and pattern (the
    deadline moves with the start); None when it exists already (the end ran twice)."""
    exists = await conn.fetchval(
        """SELECT 1 FROM events WHERE recurrence_pattern ->> 'series' = $1 AND start_date = $2""",
        pattern["series"],
        start,
    )
    if exists:
        return None
    row = await conn.fetchrow(
        f"""INSERT INTO events (title, description, type, pathway, start_date, end_date, timezone, recurring,
                                recurrence_pattern, location_type, voice_channel_id, stream_url, meeting_link,
                                max_participants, registration_required, registration_deadline, host, host_id,
                                co_hosts, required_roles, required_pathway, min_level, rewards, status)
            SELECT $2, description, type, pathway, $3, $4, timezone, true, $5, location_type, voice_channel_id,
                   stream_url, meeting_link, $6, registration_required,
                   registration_deadline + ($3 - start_date), host, host_id, co_hosts, required_roles,
                   required_pathway, min_level, rewards, 'upcoming'
            FROM events WHERE id = $1::uuid
            RETURNING {_COLUMNS}""",
        event.id,
        pattern.get("template", {}).get("title") or event.title,
        start,
        end,
        pattern,
        pattern.get("template", {}).get("max_participants", event.max_participants),
    )
    return Event(**dict(row)) if row else None


async def set_recurring(conn: Executor, event_id: str) -> None:
    await conn.execute("UPDATE events SET recurring = true WHERE id = $1::uuid", event_id)


async def to_mirror(conn: Executor) -> list[Event]:
    """Events to mirror as Discord scheduled events: the live ones, and the finished ones of the last
    two days that are mirrored (to finish them in Discord too)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events
            WHERE (is_active AND status IN ('upcoming', 'ongoing'))
               OR (discord_event_id IS NOT NULL AND status IN ('completed', 'cancelled')
                   AND updated_at > NOW() - interval '2 days')
            ORDER BY start_date"""
    )
    return [Event(**dict(r)) for r in rows]


async def set_discord_event(conn: Executor, event_id: str, discord_event_id: str) -> None:
    await conn.execute("UPDATE events SET discord_event_id = $2 WHERE id = $1::uuid", event_id, discord_event_id)

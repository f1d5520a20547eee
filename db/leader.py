"""The leader lease (migration 029): which bot process leads a guild, with a fencing token bumped at
every acquisition. Every statement stands alone (no session state), so it works through a
transaction pooler; the clock is the database's (NOW()), so the processes' clocks never meet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.types import Executor


@dataclass(frozen=True)
class Fence:
    """What a write path with a side effect proves in its own transaction: this holder still holds
    this token, unexpired."""

    guild_id: str
    holder: str
    token: int


# The condition the outbox, the timers and maintenance add to their claims ($n, $n+1, $n+2: the
# fence's guild, holder and token); `fence_sql(n)` numbers it for a statement.
def fence_sql(first: int) -> str:
    return (
        f"EXISTS (SELECT 1 FROM bot_leader WHERE guild_id = ${first} AND holder = ${first + 1} "
        f"AND token = ${first + 2} AND expires_at > NOW())"
    )


def fence_args(fence: Fence) -> tuple[str, str, int]:
    return fence.guild_id, fence.holder, fence.token


async def bound_transaction(conn: Executor, ms: int) -> None:
    """Inside a transaction: its statements wait at most `ms` milliseconds for a lock and run at most
    that long (SET LOCAL: both end with the transaction)."""
    await conn.execute(
        "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $1, true)", f"{ms}ms"
    )


async def holds(conn: Executor, fence: Fence) -> bool:
    """Whether the lease is still this fence's right now: the statement's clock (clock_timestamp()),
    not NOW(), which inside a transaction is its start (a claim's, possibly long ago)."""
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM bot_leader WHERE guild_id = $1 AND holder = $2 AND token = $3
                          AND expires_at > clock_timestamp())""",
        *fence_args(fence),
    )


@dataclass(frozen=True)
class Lease:
    guild_id: str
    holder: str
    token: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    handover_to: str | None
    handover_cut: int | None
    expired_for: float  # seconds since it expired, by the database's clock (negative: still held)


@dataclass(frozen=True)
class Renewal:
    held: bool  # False: this holder no longer holds this token (taken over or released)
    handover_to: str | None
    handover_cut: int | None


@dataclass(frozen=True)
class Change:
    holder: str
    token: int
    event: str
    detail: str | None
    at: datetime


async def acquire(
    conn: Executor, guild_id: str, holder: str, ttl_seconds: float, *, grace_seconds: float, detail: str | None = None
) -> int | None:
    """Take the lease if nobody holds it, it expired, or it was released; a lease released for a
    handover to another process stays theirs for `grace_seconds`. Returns the new fencing token, or
    None when another process holds it. The acquisition is logged in the same statement."""
    return await conn.fetchval(
        """
        WITH taken AS (
          INSERT INTO bot_leader AS l (guild_id, holder, token, acquired_at, renewed_at, expires_at)
          VALUES ($1, $2, 1, NOW(), NOW(), NOW() + make_interval(secs => $3))
          ON CONFLICT (guild_id) DO UPDATE
            SET holder = EXCLUDED.holder, token = l.token + 1, acquired_at = NOW(), renewed_at = NOW(),
                expires_at = EXCLUDED.expires_at, handover_to = NULL, handover_asked_at = NULL, handover_cut = NULL,
                handover_taken_at = NULL
            WHERE l.expires_at <= NOW()
              AND (l.handover_cut IS NULL OR l.handover_to = EXCLUDED.holder
                   OR l.expires_at <= NOW() - make_interval(secs => $4))
          RETURNING l.guild_id, l.holder, l.token
        ), logged AS (
          INSERT INTO bot_leader_log (guild_id, holder, token, event, detail)
          SELECT guild_id, holder, token, 'acquired', $5 FROM taken
        )
        SELECT token FROM taken
        """,
        guild_id,
        holder,
        ttl_seconds,
        grace_seconds,
        detail,
    )


async def renew(conn: Executor, fence: Fence, ttl_seconds: float) -> Renewal:
    """Extend the lease from the database's now; whether it is still held, and any handover asked for."""
    row = await conn.fetchrow(
        """UPDATE bot_leader SET renewed_at = NOW(), expires_at = NOW() + make_interval(secs => $4)
           WHERE guild_id = $1 AND holder = $2 AND token = $3 AND expires_at > NOW()
           RETURNING CASE WHEN handover_cut IS NOT NULL OR handover_asked_at > NOW() - make_interval(secs => $5)
                          THEN handover_to END AS handover_to,
                     handover_cut""",
        *fence_args(fence),
        ttl_seconds,
        REQUEST_FRESH_S,
    )
    if row is None:
        return Renewal(False, None, None)
    return Renewal(True, row["handover_to"], row["handover_cut"])


async def release(conn: Executor, fence: Fence, *, event: str = "released", detail: str | None = None) -> bool:
    """Give the lease up now (a stop, a handover): the next process acquires it at once."""
    return bool(
        await conn.fetchval(
            """WITH freed AS (
                 UPDATE bot_leader SET expires_at = NOW()
                 WHERE guild_id = $1 AND holder = $2 AND token = $3 AND expires_at > NOW()
                 RETURNING guild_id, holder, token
               ), logged AS (
                 INSERT INTO bot_leader_log (guild_id, holder, token, event, detail)
                 SELECT guild_id, holder, token, $4, $5 FROM freed
               )
               SELECT count(*) > 0 FROM freed""",
            *fence_args(fence),
            event,
            detail,
        )
    )


# A handover request not refreshed for this long is its asker's, dead: ignored, and replaceable.
REQUEST_FRESH_S = 5.0


async def request_handover(conn: Executor, guild_id: str, holder: str) -> str:
    """Ask the live leader to hand over to `holder` (it sees this at its next renewal), or refresh the
    request while waiting: "asked"; "nobody" when nobody leads (the asker simply acquires); "busy"
    when another process's handover is under way (one at a time: a second request would move the
    cut under the first)."""
    return await conn.fetchval(
        """WITH asked AS (
             UPDATE bot_leader
             SET handover_to = $2, handover_asked_at = NOW(),
                 handover_cut = CASE WHEN handover_to = $2 THEN handover_cut END,
                 handover_taken_at = CASE WHEN handover_to = $2 THEN handover_taken_at END
             WHERE guild_id = $1 AND expires_at > NOW() AND holder <> $2
               AND (handover_to IS NULL OR handover_to = $2
                    OR (handover_cut IS NULL AND handover_asked_at <= NOW() - make_interval(secs => $3)))
             RETURNING 1
           )
           SELECT CASE WHEN EXISTS (SELECT 1 FROM asked) THEN 'asked'
                       WHEN EXISTS (SELECT 1 FROM bot_leader WHERE guild_id = $1 AND expires_at > NOW()) THEN 'busy'
                       ELSE 'nobody' END""",
        guild_id,
        holder,
        REQUEST_FRESH_S,
    )


async def set_cut(conn: Executor, fence: Fence, cut: int) -> bool:
    """The leader's answer to a handover: interactions and messages from snowflake `cut` on are the
    new process's."""
    status = await conn.execute(
        """UPDATE bot_leader SET handover_cut = $4, handover_taken_at = NULL
           WHERE guild_id = $1 AND holder = $2 AND token = $3 AND handover_to IS NOT NULL""",
        *fence_args(fence),
        cut,
    )
    return status.endswith(" 1")


async def take_cut(conn: Executor, guild_id: str, holder: str, cut: int, *, grace_seconds: float) -> bool:
    """The successor's word that it handles the events from its cut on (the old leader may stop
    handling the others), given before it handles any: a compare-and-set on the cut it learnt, so a
    handover called off meanwhile (or a new cut) is not taken. Idempotent: asked again after a lost
    answer, it is True again, the old leader's lease released to this process by then included (for
    as long as it is this process's alone: `grace_seconds` after its end)."""
    status = await conn.execute(
        """UPDATE bot_leader SET handover_taken_at = COALESCE(handover_taken_at, NOW())
           WHERE guild_id = $1 AND handover_to = $2 AND handover_cut = $3
             AND expires_at > NOW() - make_interval(secs => $4)""",
        guild_id,
        holder,
        cut,
        grace_seconds,
    )
    return status.endswith(" 1")


async def call_off_handover(conn: Executor, fence: Fence, successor: str) -> bool:
    """The old leader's way back when its successor never took its cut (it died after learning it):
    the handover is over and this process carries on leading (logged 'called_off'). Only while the
    cut is not taken: True, called off (now, or by an earlier try whose answer was lost: the row no
    longer names this successor); False, the successor took it, or this lease is gone."""
    return await conn.fetchval(
        """WITH off AS (
             UPDATE bot_leader
             SET handover_to = NULL, handover_asked_at = NULL, handover_cut = NULL, handover_taken_at = NULL
             WHERE guild_id = $1 AND holder = $2 AND token = $3 AND expires_at > NOW()
               AND handover_to = $4 AND handover_taken_at IS NULL
             RETURNING guild_id, holder, token
           ), logged AS (
             INSERT INTO bot_leader_log (guild_id, holder, token, event, detail)
             SELECT guild_id, holder, token, 'called_off', 'successor ' || $4 || ' never took its cut' FROM off
           )
           SELECT EXISTS (SELECT 1 FROM off)
               OR EXISTS (SELECT 1 FROM bot_leader
                           WHERE guild_id = $1 AND holder = $2 AND token = $3 AND expires_at > NOW()
                             AND handover_to IS DISTINCT FROM $4)""",
        *fence_args(fence),
        successor,
    )


async def cut_taken(conn: Executor, fence: Fence) -> bool:
    """Whether the successor of this leader's handover has taken its cut."""
    return bool(
        await conn.fetchval(
            """SELECT handover_taken_at IS NOT NULL FROM bot_leader
                WHERE guild_id = $1 AND holder = $2 AND token = $3""",
            *fence_args(fence),
        )
    )


async def log_change(conn: Executor, fence: Fence, event: str, detail: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO bot_leader_log (guild_id, holder, token, event, detail) VALUES ($1, $2, $3, $4, $5)",
        *fence_args(fence),
        event,
        detail,
    )


async def current(conn: Executor, guild_id: str) -> Lease | None:
    row = await conn.fetchrow(
        """SELECT guild_id, holder, token, acquired_at, renewed_at, expires_at, handover_to, handover_cut,
                  EXTRACT(EPOCH FROM NOW() - expires_at)::float8 AS expired_for
           FROM bot_leader WHERE guild_id = $1""",
        guild_id,
    )
    return Lease(**dict(row)) if row else None


async def history(conn: Executor, guild_id: str, *, limit: int = 5) -> list[Change]:
    rows = await conn.fetch(
        """SELECT holder, token, event, detail, at FROM bot_leader_log
           WHERE guild_id = $1 ORDER BY at DESC, id DESC LIMIT $2""",
        guild_id,
        limit,
    )
    return [Change(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Acquisitions:
    """How the lease changed hands lately: what damps a flapping leadership."""

    unplanned: int  # a start, a failover, a --takeover with nobody leading
    handovers: int  # a planned handover (--takeover) taken, or called off (each cost its IDENTIFY)


# The detail a successor's acquisition is logged with (bot/core/leadership.py): a planned handover.
BY_HANDOVER = "by handover"


async def acquisitions_since(conn: Executor, guild_id: str, seconds: float) -> Acquisitions:
    """How many times the lease changed hands lately, planned handovers counted apart."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE event = 'acquired' AND detail IS DISTINCT FROM $3) AS unplanned,
                  count(*) FILTER (WHERE detail = $3 OR event = 'called_off') AS handovers
           FROM bot_leader_log
           WHERE guild_id = $1 AND event IN ('acquired', 'called_off') AND at > NOW() - make_interval(secs => $2)""",
        guild_id,
        seconds,
        BY_HANDOVER,
    )
    return Acquisitions(row["unplanned"], row["handovers"])

"""Scheduled maintenance: who runs a job (an advisory lock held by a transaction while it runs, and
the maintenance_runs row that says when it last ran, so a job runs once per period whatever the number of bot processes
on the database), and the jobs' statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from db.leader import Fence, fence_args, fence_sql
from db.types import Executor

# The busiest tables (written by every flush or every minute): what the weekly VACUUM ANALYZE covers.
BUSY_TABLES = (
    "xp_ledger",
    "xp_period_totals",
    "user_profiles",
    "pathway_progress",
    "users",
    "outbox",
    "analytics",
    "notifications",
    "timers",
    "server_stats_daily",
    "user_achievements",
    "event_registrations",
)
DELETE_BATCH = 10_000


async def try_lock(conn: asyncpg.Connection, job: str) -> bool:
    """This job's lock, for the caller's transaction (released when it ends, or when the connection
    does): transaction-scoped, so it holds through a transaction pooler too."""
    return await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended('maintenance:' || $1, 0))", job)


async def claim(conn: Executor, job: str, every: timedelta, fence: Fence | None = None) -> bool:
    """Mark the job running unless it completed less than `every` ago (within a tenth of it: two
    processes' schedules drift). Call while holding the job's lock. With a fence, only while that
    lease is held."""
    fenced = f"WHERE {fence_sql(3)}" if fence is not None else ""
    row = await conn.fetchrow(
        f"""INSERT INTO maintenance_runs AS m (job, last_started_at, last_status)
           SELECT $1, NOW(), 'running' {fenced}
           ON CONFLICT (job) DO UPDATE SET last_started_at = NOW(), last_status = 'running'
             WHERE m.last_status IS DISTINCT FROM 'completed' OR m.last_started_at <= NOW() - $2::interval * 0.9
           RETURNING job""",
        job,
        every,
        *(fence_args(fence) if fence is not None else ()),
    )
    return row is not None


async def finish(conn: Executor, job: str, *, ok: bool, detail: str) -> None:
    await conn.execute(
        """UPDATE maintenance_runs SET last_finished_at = NOW(), last_status = $2, last_detail = $3,
                  runs = runs + 1
           WHERE job = $1""",
        job,
        "completed" if ok else "failed",
        detail[:1000],
    )


@dataclass(frozen=True)
class Run:
    job: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_detail: str | None
    runs: int


async def runs(conn: Executor) -> list[Run]:
    rows = await conn.fetch(
        """SELECT job, last_started_at, last_finished_at, last_status, last_detail, runs
           FROM maintenance_runs ORDER BY job"""
    )
    return [Run(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Connections:
    server_version: str
    open: int  # to this database, every client
    active: int
    max_connections: int


async def connections(conn: Executor) -> Connections:
    row = await conn.fetchrow(
        """SELECT current_setting('server_version') AS version, current_setting('max_connections')::int AS max,
                  count(*) AS open, count(*) FILTER (WHERE state = 'active') AS active
           FROM pg_stat_activity WHERE datname = current_database()"""
    )
    return Connections(row["version"], row["open"], row["active"], row["max"])


async def refresh_pathway_cache(conn: Executor) -> None:
    """The guide's pathway_stats_cache, refreshed without blocking its readers (it has a unique index)."""
    await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY pathway_stats_cache")


async def delete_analytics_before(conn: Executor, cutoff: datetime) -> int:
    """Delete analytics rows older than `cutoff`, 10,000 a statement (short locks); returns how many."""
    return await _delete_in_batches(
        conn,
        "DELETE FROM analytics WHERE id IN (SELECT id FROM analytics WHERE timestamp < $1 LIMIT $2)",
        cutoff,
    )


async def delete_delivered_outbox_before(conn: Executor, cutoff: datetime) -> int:
    """Delete outbox rows delivered before `cutoff` (pending, failed and refused ones stay)."""
    return await _delete_in_batches(
        conn,
        """DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status = 'delivered' AND delivered_at < $1
                                           LIMIT $2)""",
        cutoff,
    )


async def _delete_in_batches(conn: Executor, statement: str, cutoff: datetime) -> int:
    total = 0
    while True:
        result = await conn.execute(statement, cutoff, DELETE_BATCH)
        deleted = int(result.split()[-1])
        total += deleted
        if deleted < DELETE_BATCH:
            return total


async def vacuum_analyze(conn: asyncpg.Connection) -> list[str]:
    """VACUUM (ANALYZE) each busy table (outside a transaction); returns the tables done."""
    done = []
    for table in BUSY_TABLES:  # names from the constant above, never from input
        await conn.execute(f"VACUUM (ANALYZE) {table}")
        done.append(table)
    return done

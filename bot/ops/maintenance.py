"""Maintenance on the scheduler: each job once per period even with several bot processes on one
database. A run takes the job's advisory lock in a transaction on one connection (another process
holding it skips), then claims the job in maintenance_runs (a process whose run came a moment after
another's finished skips too), runs it on a second connection of its own (VACUUM needs one outside a
transaction, and a long job must not hold a pool slot or meet the pool's statement timeout), and
records how it went. Neither connection keeps session state, so both work through a transaction
pooler (DATABASE_DIRECT_URL, when set, is used instead)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from db import maintenance, notifications
from db.faults import one_line
from db.leader import Fence
from db.pool import PoolMode, connect

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
HISTORY = 100  # outcomes remembered in this process (maintenance_runs is the record)
JobBody = Callable[[asyncpg.Connection], Awaitable[str]]


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    body: JobBody
    first_after: timedelta = timedelta(minutes=1)  # after start-up


@dataclass(frozen=True)
class Retention:
    analytics_days: int  # 0: kept for ever
    outbox_days: int
    pathway_cache_minutes: int


class Maintenance:
    def __init__(self, dsn: str, retention: Retention, *, pool_mode: PoolMode = "direct") -> None:
        self.dsn = dsn
        self.pool_mode = pool_mode
        self.retention = retention
        self.jobs: dict[str, Job] = {}
        self.history: list[tuple[str, str]] = []  # (job, "ran" | "skipped" | "failed"): the last HISTORY here
        self.fence: Fence | None = None  # set while this process leads (bot/core/leadership.py): claims check it
        for job in self._standard_jobs():
            self.add(job)

    def _standard_jobs(self) -> list[Job]:
        r = self.retention
        jobs = [
            Job("notifications:cleanup", timedelta(days=1), self._cleanup_notifications),
            Job("pathway_stats_cache:refresh", timedelta(minutes=r.pathway_cache_minutes), self._refresh_cache),
            Job("outbox:retention", timedelta(days=1), self._outbox_retention, timedelta(minutes=5)),
            Job("vacuum:weekly", timedelta(days=7), self._vacuum, timedelta(hours=1)),
        ]
        if r.analytics_days:
            jobs.append(Job("analytics:retention", timedelta(days=1), self._analytics_retention, timedelta(minutes=5)))
        return jobs

    def _note(self, name: str, outcome: str) -> None:
        self.history.append((name, outcome))
        del self.history[:-HISTORY]

    async def connect(self) -> asyncpg.Connection:
        return await connect(self.dsn, pool_mode=self.pool_mode)

    def add(self, job: Job) -> None:
        self.jobs[job.name] = job

    def schedule(self, scheduler: AsyncIOScheduler, *, first_run: datetime | None = None) -> None:
        """Every job on `scheduler`, first after its delay (or at `first_run`), then every period."""
        now = datetime.now(UTC)
        for job in self.jobs.values():
            scheduler.add_job(
                self.run,
                "interval",
                args=[job.name],
                seconds=job.every.total_seconds(),
                id=f"maintenance:{job.name}",
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                next_run_time=first_run or now + job.first_after,
            )

    async def run(self, name: str) -> str | None:
        """Run the job here unless another process is running it or ran it this period; returns what
        it did, or None when it was not run here."""
        job = self.jobs[name]
        holder: asyncpg.Connection | None = None
        conn: asyncpg.Connection | None = None
        try:
            holder = await self.connect()
            conn = await self.connect()
        except Exception as error:
            log.warning("maintenance %s not run: the database is unavailable (%s)", name, one_line(error))
            self._note(name, "failed")
            for c in (holder, conn):
                if c is not None:
                    c.terminate()
            return None
        try:
            # The lock is held by a transaction on a connection of its own for as long as the job
            # runs (VACUUM cannot run in a transaction, batched deletes commit as they go).
            async with holder.transaction():
                if not await maintenance.try_lock(holder, name):
                    self._note(name, "skipped")
                    return None
                if not await maintenance.claim(conn, name, job.every, self.fence):
                    self._note(name, "skipped")
                    return None
                try:
                    detail = await job.body(conn)
                except Exception as error:
                    log.warning("maintenance %s failed: %s", name, one_line(error))
                    await maintenance.finish(conn, name, ok=False, detail=one_line(error))
                    self._note(name, "failed")
                    return None
                await maintenance.finish(conn, name, ok=True, detail=detail)
                self._note(name, "ran")
                log.info("maintenance %s: %s", name, detail)
                return detail
        except Exception as error:  # the connection went away mid-run: the next period tries again
            log.warning("maintenance %s interrupted: %s", name, one_line(error))
            self._note(name, "failed")
            return None
        except asyncio.CancelledError:  # the bot is stopping: the run is rolled back, tried at the next start
            log.info("maintenance %s interrupted by the stop", name)
            self._note(name, "failed")
            return None
        finally:
            for c in (conn, holder):
                try:
                    await c.close(timeout=CLOSE_TIMEOUT_S)
                except Exception:
                    c.terminate()

    async def _cleanup_notifications(self, conn: asyncpg.Connection) -> str:
        return f"{await notifications.cleanup_expired(conn)} expired notification(s) removed"

    async def _refresh_cache(self, conn: asyncpg.Connection) -> str:
        await maintenance.refresh_pathway_cache(conn)
        return "pathway_stats_cache refreshed"

    async def _analytics_retention(self, conn: asyncpg.Connection) -> str:
        cutoff = datetime.now(UTC) - timedelta(days=self.retention.analytics_days)
        deleted = await maintenance.delete_analytics_before(conn, cutoff)
        return f"{deleted} analytics row(s) older than {self.retention.analytics_days} days deleted"

    async def _outbox_retention(self, conn: asyncpg.Connection) -> str:
        cutoff = datetime.now(UTC) - timedelta(days=self.retention.outbox_days)
        deleted = await maintenance.delete_delivered_outbox_before(conn, cutoff)
        return f"{deleted} delivered outbox row(s) older than {self.retention.outbox_days} days deleted"

    async def _vacuum(self, conn: asyncpg.Connection) -> str:
        done = await maintenance.vacuum_analyze(conn)
        return f"VACUUM ANALYZE of {len(done)} tables"

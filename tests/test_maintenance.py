"""Scheduled maintenance: each job runs once per period even with two bot processes (two schedulers)
on one database, and does what it says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.ops.maintenance import Maintenance, Retention
from db import maintenance
from tests.factories import make_member
from tests.test_e2e_faults import doctor

RETENTION = Retention(analytics_days=90, outbox_days=30, pathway_cache_minutes=15)


async def _seed(conn) -> str:
    member = await make_member(conn, "alice", pathways=("gaming",))
    await conn.execute(
        """INSERT INTO notifications (user_id, title, expires_at)
           VALUES ($1, 'old', NOW() - INTERVAL '1 day'), ($1, 'old too', NOW() - INTERVAL '2 days'),
                  ($1, 'current', NOW() + INTERVAL '1 day')""",
        member,
    )
    long_ago = datetime.now(UTC) - timedelta(days=100)
    await conn.execute(
        "INSERT INTO analytics (event_type, timestamp) SELECT 'command_used', $1 FROM generate_series(1, 30)", long_ago
    )
    await conn.execute("INSERT INTO analytics (event_type) VALUES ('command_used')")
    await conn.execute(
        """INSERT INTO outbox (kind, payload, status, delivered_at)
           SELECT 'dm', '{}', 'delivered', NOW() - INTERVAL '40 days' FROM generate_series(1, 12)"""
    )
    await conn.execute(
        "INSERT INTO outbox (kind, payload, status, delivered_at) VALUES ('dm', '{}', 'delivered', NOW())"
    )
    await conn.execute(
        "INSERT INTO outbox (kind, payload, created_at) VALUES ('dm', '{}', NOW() - INTERVAL '60 days')"
    )  # still pending: kept whatever its age
    await conn.execute("SELECT award_xp($1, 'gaming', 250)", member)
    return member


async def test_each_job_runs_once_with_two_schedulers_on_one_database(conn, db_dsn):
    await _seed(conn)
    assert await conn.fetchval("SELECT count(*) FROM pathway_stats_cache WHERE pathway_id = 'gaming'") == 0
    processes = [Maintenance(db_dsn, RETENTION), Maintenance(db_dsn, RETENTION)]
    jobs = set(processes[0].jobs)
    assert jobs == {
        "notifications:cleanup",
        "pathway_stats_cache:refresh",
        "analytics:retention",
        "outbox:retention",
        "vacuum:weekly",
    }
    schedulers = [AsyncIOScheduler(timezone="UTC"), AsyncIOScheduler(timezone="UTC")]
    now = datetime.now(UTC)
    for process, scheduler in zip(processes, schedulers, strict=True):
        process.schedule(scheduler, first_run=now)  # every job due at once in both processes
        scheduler.start()
    try:
        for _ in range(400):
            if all(len(p.history) >= len(jobs) for p in processes):
                break
            await asyncio.sleep(0.05)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
    for job in jobs:
        outcomes = sorted(outcome for p in processes for name, outcome in p.history if name == job)
        assert outcomes == ["ran", "skipped"], (job, outcomes)
    runs = {r.job: r for r in await maintenance.runs(conn)}
    assert {name: (r.runs, r.last_status) for name, r in runs.items()} == {job: (1, "completed") for job in jobs}
    assert runs["outbox:retention"].last_detail == "12 delivered outbox row(s) older than 30 days deleted"
    assert runs["analytics:retention"].last_detail == "30 analytics row(s) older than 90 days deleted"
    assert runs["notifications:cleanup"].last_detail == "2 expired notification(s) removed"
    assert await conn.fetchval("SELECT count(*) FROM notifications") == 1
    kept = await conn.fetch("SELECT event_type FROM analytics ORDER BY event_type")
    assert [r["event_type"] for r in kept] == ["command_used", "pathway_join"]  # the recent ones
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 2  # the recent delivery and the pending one
    cached = await conn.fetchrow("SELECT total_members, total_xp FROM pathway_stats_cache WHERE pathway_id = 'gaming'")
    assert (cached["total_members"], cached["total_xp"]) == (1, 250)
    vacuumed = None
    for _ in range(100):  # PostgreSQL 14's statistics collector reports the vacuum a moment later
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        vacuumed = await conn.fetchval("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'xp_ledger'")
        if vacuumed is not None:
            break
        await asyncio.sleep(0.1)
    assert vacuumed is not None

    # Within the period, neither process runs a job again.
    for job in jobs:
        assert await processes[0].run(job) is None and await processes[1].run(job) is None
    assert {r.job: r.runs for r in await maintenance.runs(conn)} == dict.fromkeys(jobs, 1)


async def test_a_failed_job_is_recorded_and_tried_again_at_the_next_run(conn, db_dsn):
    process = Maintenance(db_dsn, RETENTION)
    await conn.execute("DROP MATERIALIZED VIEW pathway_stats_cache")
    assert await process.run("pathway_stats_cache:refresh") is None
    run = {r.job: r for r in await maintenance.runs(conn)}["pathway_stats_cache:refresh"]
    assert run.last_status == "failed" and "pathway_stats_cache" in run.last_detail
    assert process.history == [("pathway_stats_cache:refresh", "failed")]
    await conn.execute(
        """CREATE MATERIALIZED VIEW pathway_stats_cache AS SELECT pathway_id, COUNT(DISTINCT user_id) AS total_members,
           AVG(level) AS avg_level, SUM(total_xp) AS total_xp, MAX(updated_at) AS last_updated
           FROM pathway_progress GROUP BY pathway_id"""
    )
    await conn.execute("CREATE UNIQUE INDEX ON pathway_stats_cache (pathway_id)")
    assert await process.run("pathway_stats_cache:refresh") == "pathway_stats_cache refreshed"


async def test_a_job_another_process_is_running_is_skipped(conn, db_dsn):
    process = Maintenance(db_dsn, RETENTION)
    async with conn.transaction():
        assert await maintenance.try_lock(conn, "vacuum:weekly")  # another process holds it
        assert await process.run("vacuum:weekly") is None
    assert process.history == [("vacuum:weekly", "skipped")]
    assert await process.run("vacuum:weekly") == f"VACUUM ANALYZE of {len(maintenance.BUSY_TABLES)} tables"


async def test_doctor_shows_the_database_and_each_jobs_last_run(conn, db_dsn, tmp_path):
    process = Maintenance(db_dsn, RETENTION)
    assert await process.run("notifications:cleanup") == "0 expired notification(s) removed"
    await conn.execute("DROP MATERIALIZED VIEW pathway_stats_cache")
    assert await process.run("pathway_stats_cache:refresh") is None
    report = await asyncio.to_thread(doctor, db_dsn, tmp_path)
    lines = report.stdout.splitlines()
    database = next(line for line in lines if line.startswith("database: PostgreSQL"))
    assert "connection(s) open" in database and "max_connections" in database and "up to 10" in database
    assert any(
        line.startswith("maintenance notifications:cleanup: last completed")
        and line.endswith("(1 run(s)): 0 expired notification(s) removed")
        for line in lines
    )
    assert any(line.startswith("maintenance pathway_stats_cache:refresh: last failed") for line in lines)
    assert report.returncode == 1  # a failed job needs an admin

"""The analytics buffer under faults, on real PostgreSQL: a row the database refuses blocks no other,
an outage is logged once when it starts and once when it ends, and the buffer keeps to its bound
(the oldest rows give way, and how many is logged)."""

from __future__ import annotations

import asyncio
import logging

from bot.writes.analytics import Analytics
from bot.writes.journal import Journal
from db.pool import create_pool
from tests.test_e2e_faults import own_server  # noqa: F401  (a PostgreSQL this test can stop)


async def test_a_refused_row_is_skipped_and_the_others_are_written(pool, caplog):
    await pool.execute("ALTER TABLE analytics ADD CONSTRAINT refuse_bad CHECK (event_label IS DISTINCT FROM 'bad')")
    analytics = Analytics(pool)
    for label in ("good", "bad", "fine"):
        analytics.record("command_used", discord_id=1, label=label)
    with caplog.at_level(logging.ERROR, logger="bot.writes.analytics"):
        assert await analytics.flush() == 2
    labels = sorted(r["event_label"] for r in await pool.fetch("SELECT event_label FROM analytics"))
    assert labels == ["fine", "good"] and analytics.refused == 1 and len(analytics) == 0
    assert [r.getMessage() for r in caplog.records if "refused an analytics row" in r.getMessage()]


async def test_an_outage_is_logged_once_each_way_and_the_buffer_keeps_its_bound(own_server, caplog):  # noqa: F811
    server, dsn = own_server
    pool = await create_pool(dsn, min_size=1, max_size=2)
    analytics = Analytics(pool, limit=20)
    try:
        analytics.record("member_join", discord_id=1)
        assert await analytics.flush() == 1
        with caplog.at_level(logging.INFO, logger="bot"):
            await asyncio.to_thread(server.stop)
            for i in range(30):
                analytics.record("command_used", discord_id=1, label=f"c{i}")
            for _ in range(3):  # tries with backoff, each failing
                analytics.health.allow_now()
                assert await analytics.flush() == 0
            assert len(analytics) == 20 and analytics.dropped == 10
            await asyncio.to_thread(server.start)
            analytics.health.allow_now()
            assert await analytics.flush() == 20
        messages = [r.getMessage() for r in caplog.records]
        assert sum("analytics writes are failing" in m for m in messages) == 1
        assert sum("analytics writes recovered after" in m for m in messages) == 1
        assert sum("analytics buffer full" in m for m in messages) == 1
        assert any("10 row(s) were dropped while the buffer was full" in m for m in messages)
        assert not any(r.exc_info for r in caplog.records if r.name.startswith("bot"))  # no traceback of ours
        labels = [
            r["event_label"]
            for r in await pool.fetch("SELECT event_label FROM analytics WHERE event_label IS NOT NULL")
        ]
        assert sorted(labels, key=lambda s: int(s[1:])) == [f"c{i}" for i in range(10, 30)]  # the newest 20
    finally:
        await pool.close()


async def test_a_stop_during_an_outage_keeps_the_rows_for_the_next_start(pool, tmp_path):
    journal = Journal(tmp_path / "journal" / "analytics")
    before = Analytics(pool, journal)
    before.record("level_up", discord_id=7, category="xp", value=3, pathway="news")
    before.record("command_used", discord_id=7, label="rank")
    said = before.spill()  # what the final flush keeps when the database did not answer
    assert said is not None and said.startswith("2 analytics row(s) kept in") and len(before) == 0
    after = Analytics(pool, journal)  # the next start
    assert after.load_journal() == 2 and not journal.files()
    assert await after.flush() == 2
    rows = await pool.fetch("SELECT event_type, event_value, pathway, event_label FROM analytics ORDER BY event_type")
    assert [tuple(r) for r in rows] == [("command_used", None, None, "rank"), ("level_up", 3, "news", None)]

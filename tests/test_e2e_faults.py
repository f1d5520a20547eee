"""Faults made for real: a member erased behind the bot's back, a row the database refuses, a
message delivered twice, and a PostgreSQL stopped under chat. Nobody else's writes are blocked and
nothing is dropped silently."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.errors import DATABASE_UNAVAILABLE
from bot.core.runner import stop_within_budget
from bot.sandbox.harness import Harness
from bot.writes.journal import Journal
from cogs.xp.pending import Pending
from db import ledger, migrate
from db.embedded import EmbeddedServer
from db.pool import connect, ensure_database, with_database
from tests.hung_database import HangingProxy
from tests.xp_support import handled, start, total_xp

ROOT = Path(__file__).resolve().parent.parent


async def messages_of(pool, discord_id: str) -> int | None:
    return await pool.fetchval(
        "SELECT up.message_count FROM user_profiles up JOIN users u ON u.id = up.user_id WHERE u.discord_id = $1",
        discord_id,
    )


def doctor(dsn: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "CONCLAVE_CONFIG")}
    env |= {"DATABASE_URL": dsn, "PYTHONPATH": str(ROOT), "CONCLAVE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "doctor", *args], capture_output=True, text=True, env=env, timeout=60
    )


async def test_a_member_erased_behind_the_bots_back_blocks_nobody_and_earns_on_a_fresh_row(harness, caplog):
    bot = await start(harness)
    alice, bob, carol = (harness.member(n) for n in ("alice", "bob", "carol"))
    for who in (alice, bob, carol):
        who.say(f"first words from {who.member.user.username}")
    await handled(bot, 3)
    erased = await bot.pool.fetchval("DELETE FROM users WHERE discord_id = $1 RETURNING id", bob.id)

    for who in (alice, bob, carol):
        who.say(f"second words from {who.member.user.username}")
    await handled(bot, 6)
    assert await total_xp(bot.pool, alice.id) == 40
    assert await total_xp(bot.pool, carol.id) == 40
    assert await messages_of(bot.pool, carol.id) == 2
    # Bob is still in the server: the grant refused for his deleted row is written to a fresh one.
    fresh = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", bob.id)
    assert fresh is not None and fresh != erased
    assert await total_xp(bot.pool, bob.id) == 20
    assert await messages_of(bot.pool, bob.id) == 1
    assert await bot.pool.fetchval("SELECT count(*) FROM dead_letters") == 0

    bob.say("I am back after the erasure")
    await handled(bot, 7)
    assert await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", bob.id) == fresh
    assert await total_xp(bot.pool, bob.id) == 40
    assert await messages_of(bot.pool, bob.id) == 2
    assert await ledger.ledger_mismatches(bot.pool) == []

    with caplog.at_level(logging.INFO, logger="bot.core.client"):
        await harness.stop_bot()
    stops = [
        r.getMessage() for r in caplog.records if r.name == "bot.core.client" and r.getMessage().startswith("stopped")
    ]
    assert stops == ["stopped cleanly"]


async def test_staff_replay_from_discord_writes_a_dead_letter_to_the_members_fresh_row(harness):
    bot = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    bob.say("bob's words before his row is deleted")
    await handled(bot, 1)
    gone = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", bob.id)
    # A grant refused for a row deleted behind the bot, as an earlier process left it, and no row now.
    letter = await bot.pool.fetchval(
        """INSERT INTO dead_letters (kind, payload, error, sqlstate)
           VALUES ('xp_grant', $1, 'no user_profiles row (deleted?)', '23503') RETURNING id""",
        {
            "t": "grant",
            "discord_id": int(bob.id),
            "user_id": gone,
            "source": "message",
            "source_ref": "1234567890",
            "pathway": None,
            "amount": 20,
            "at": "2026-01-05T10:00:00+00:00",
            "channel_id": None,
        },
    )
    await bot.pool.execute("DELETE FROM users WHERE id = $1", gone)
    done = await mod.slash("deadletter replay", letter_id=letter, reason="bob is still with us")
    assert done.content.startswith(f"Dead letter {letter}: granted 20 XP")
    fresh = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", bob.id)
    assert fresh is not None and fresh != gone
    assert await total_xp(bot.pool, bob.id) == 20
    assert await bot.pool.fetchval("SELECT status FROM dead_letters WHERE id = $1", letter) == "replayed"


async def test_a_grant_the_database_refuses_is_dead_lettered_and_staff_replay_it(harness, tmp_path):
    bot = await start(harness)
    alice, carol = harness.member("alice"), harness.member("carol")
    carol_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", carol.id)
    # Something the schema refuses for this one member (as a CHECK or trigger the website adds might).
    await bot.pool.execute(
        f"ALTER TABLE xp_ledger ADD CONSTRAINT refuse_carol CHECK (user_id <> '{carol_id}') NOT VALID"
    )
    alice.say("alice keeps earning")
    carol.say("carol's grant is refused")
    await handled(bot, 2)
    assert await total_xp(bot.pool, alice.id) == 20
    assert await total_xp(bot.pool, carol.id) == 0
    letter = await bot.pool.fetchrow("SELECT id, kind, sqlstate, error FROM dead_letters WHERE kind = 'xp_grant'")
    assert letter["sqlstate"] == "23514" and "refuse_carol" in letter["error"]

    listed = doctor(harness.dsn, tmp_path)
    assert listed.returncode == 1  # something needs an admin
    assert f"#{letter['id']} xp_grant" in listed.stdout and "refuse_carol" in listed.stdout

    refused_again = doctor(harness.dsn, tmp_path, "replay", str(letter["id"]))
    assert refused_again.returncode == 1 and "refused it again" in refused_again.stderr
    await bot.pool.execute("ALTER TABLE xp_ledger DROP CONSTRAINT refuse_carol")
    replayed = doctor(harness.dsn, tmp_path, "replay", str(letter["id"]))
    assert replayed.returncode == 0, replayed.stderr
    assert await total_xp(bot.pool, carol.id) == 20
    twice = doctor(harness.dsn, tmp_path, "replay", str(letter["id"]))
    assert twice.returncode == 1 and "replayed already" in twice.stderr

    counts = await bot.pool.fetchval("SELECT id FROM dead_letters WHERE kind = 'activity'")
    assert doctor(harness.dsn, tmp_path, "discard", str(counts)).returncode == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM dead_letters WHERE status = 'pending'") == 0
    assert await ledger.ledger_mismatches(bot.pool) == []


async def test_the_same_message_delivered_twice_counts_once(harness):
    bot = await start(harness, cooldown_seconds=0)
    alice = harness.member("alice")
    message = alice.say("a message the gateway will replay")
    await handled(bot, 1)
    alice.redeliver(message)
    alice.redeliver(message)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while bot.seen_messages.repeats < 2 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    await bot.flush_all()
    assert bot.seen_messages.repeats == 2
    assert await messages_of(bot.pool, alice.id) == 1
    assert await total_xp(bot.pool, alice.id) == 20

    await harness.stop_bot()
    bot = await start(harness, cooldown_seconds=0)  # a new process: the ledger still knows the message
    alice.redeliver(message)
    await handled(bot, 1)
    assert await messages_of(bot.pool, alice.id) == 1
    assert await total_xp(bot.pool, alice.id) == 20


@pytest.fixture
async def own_server():
    """A PostgreSQL of this test's own, so the test can stop and start it (in a directory of its own,
    outside pytest's temporary directories, which another pytest run of the same user may prune)."""
    holder = tempfile.TemporaryDirectory(prefix="conclave-own-pg-")
    server = EmbeddedServer(Path(holder.name) / "pgdata")
    admin = await asyncio.to_thread(server.start)
    await ensure_database(admin, "conclave")
    dsn = with_database(admin, "conclave")
    conn = await connect(dsn)
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()
    yield server, dsn
    server.stop()
    holder.cleanup()


async def test_an_outage_under_chat_is_ridden_out_and_nothing_is_lost(own_server, tmp_path, caplog):
    server, dsn = own_server
    harness = await Harness.create(dsn, tmp_path / "data")
    try:
        bot = await start(harness)
        bot.doors.xp.engine.max_pending = 10  # small, so the bound is reached
        members = [harness.member(n) for n in ("alice", "bob", "carol")]
        members[0].say("before the outage")
        await handled(bot, 1)

        with caplog.at_level(logging.INFO):
            await asyncio.to_thread(server.stop)
            said = 1
            for round_ in range(12):
                for who in members:
                    who.say(f"during the outage {round_} from {who.member.user.username}")
                    said += 1
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while bot.chat_activity.received < said and loop.time() < deadline:
                await asyncio.sleep(0.05)
            latecomer = harness.demo.new_member("latecomer")  # a join the database cannot record now
            await asyncio.sleep(1.5)  # a few flushes fail meanwhile
            reply = await members[1].slash("rank")
            assert reply.content == DATABASE_UNAVAILABLE and reply.ephemeral
            assert bot.doors.xp.engine.pending <= bot.doors.xp.engine.max_pending
            assert bot.doors.xp.engine.journal.files(), "grants past the bound are spilled to the journal"

            await asyncio.to_thread(server.start)
            deadline = loop.time() + 20
            while (bot.doors.xp.engine.pending or bot.doors.xp.engine.journal.files() or bot.write_health.down) and (
                loop.time() < deadline
            ):
                await asyncio.sleep(0.1)
        warnings = [
            r for r in caplog.records if r.levelno == logging.WARNING and "writes are failing" in r.getMessage()
        ]
        recoveries = [r for r in caplog.records if "writes recovered after" in r.getMessage()]
        assert len(warnings) == 1 and len(recoveries) == 1
        assert not any(r.exc_info for r in caplog.records if r.name.startswith(("bot", "cogs", "discord")))
        assert any("on_member_join not recorded: the database is unavailable" in r.getMessage() for r in caplog.records)
        for who in members:
            expected = 20 * (13 if who is members[0] else 12)
            assert await total_xp(bot.pool, who.id) == expected
        assert await messages_of(bot.pool, members[0].id) == 13
        assert (await members[1].slash("rank")).content != DATABASE_UNAVAILABLE
        await harness.stop_bot()
        bot = await start(harness)  # the start's member sync records the join the outage missed
        assert await bot.pool.fetchval("SELECT in_server FROM users WHERE discord_id = $1", latecomer.id)
    finally:
        await harness.close()


async def test_a_stop_during_an_outage_keeps_everything_for_the_next_start(own_server, tmp_path, caplog):
    server, dsn = own_server
    harness = await Harness.create(dsn, tmp_path / "data")
    try:
        bot = await start(harness)
        alice = harness.member("alice")
        await asyncio.to_thread(server.stop)
        for i in range(3):
            alice.say(f"said while the database is down {i}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while bot.chat_activity.received < 3 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        with caplog.at_level(logging.INFO, logger="bot.core.client"):
            started = loop.time()
            await harness.stop_bot()
            assert loop.time() - started < 10  # inside the stop budget (a failure here is a hang, not slowness)
        stops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped")]
        assert len(stops) == 1 and "3 XP grant(s) and 3 message count(s) kept in" in stops[0]

        await asyncio.to_thread(server.start)
        bot = await start(harness)
        await bot.flush_all()
        assert await total_xp(bot.pool, alice.id) == 60
        assert await messages_of(bot.pool, alice.id) == 3
        assert not bot.doors.xp.engine.journal.files()
    finally:
        await harness.close()


async def test_grants_from_before_midnight_kept_by_a_stop_do_not_break_the_streak(harness):
    bot = await start(harness)
    alice = harness.member("alice")
    await alice.slash("pathway join", pathway="gaming")
    alice.say("a gaming message", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 1)
    user_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    today = datetime.now(UTC).date()  # the community's timezone is UTC here
    # Her streak: four days up to the day before yesterday; yesterday's grant, decided just before
    # midnight, was kept in the journal by a stop during an outage.
    await bot.pool.execute(
        """UPDATE pathway_progress SET streak_days = 4, last_xp_date = $2
           WHERE user_id = $1 AND pathway_id = 'gaming'""",
        user_id,
        today - timedelta(days=2),
    )
    await harness.stop_bot()
    before_midnight = datetime.combine(today, datetime.min.time(), UTC) - timedelta(minutes=1)
    grant = Pending(int(alice.id), None, "message", "123456789", "gaming", 20, before_midnight, None, user_id)
    Journal(harness.data_dir / "journal" / "xp").spill([grant.record()])

    bot = await start(harness)  # a new day: broken streaks are reset, after the journal is written
    listeners = bot.get_cog("XPListeners")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while listeners.streaks_checked_on != today:
        assert loop.time() < deadline, "broken streaks were never reset"
        await asyncio.sleep(0.05)
    row = await bot.pool.fetchrow(
        "SELECT streak_days, last_xp_date FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'", user_id
    )
    assert (row["streak_days"], row["last_xp_date"]) == (5, today - timedelta(days=1))


async def test_a_stop_while_the_database_hangs_keeps_the_buffered_xp_for_the_next_start(db_dsn, tmp_path, caplog):
    # The database stops answering (no refusal, no reset: a stalled server or a network black hole)
    # while a periodic flush is writing, and the process is asked to stop under the runner's cap.
    proxy = await HangingProxy(db_dsn).start()
    harness = await Harness.create(proxy.dsn, tmp_path / "data")
    try:
        bot = await start(harness, cogs=["cogs.core", "cogs.xp", "cogs.achievements"])
        alice, bob = harness.member("alice"), harness.member("bob")
        alice.say("before the hang")
        await handled(bot, 1)
        assert await total_xp(bot.pool, alice.id) == 20
        proxy.hang()
        for i in range(3):
            alice.say(f"said while the database hangs {i}")
            bob.say(f"bob too {i}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while bot.chat_activity.received < 7 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        deadline = loop.time() + 5
        while not (bot.doors.xp.engine.lock.locked() and bot.doors.xp.engine.pending == 0) and loop.time() < deadline:
            await asyncio.sleep(0.01)  # until the periodic flush takes them and hangs in the database
        await asyncio.sleep(0.2)
        assert bot.doors.xp.engine.lock.locked() and bot.doors.xp.engine.pending == 0, "a flush is hung with the grants"
        with caplog.at_level(logging.INFO, logger="bot.core.client"):
            finished = await stop_within_budget(bot)
        assert finished, "the stop ran past the runner's cap (what it had not spilled is lost)"
        stops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped")]
        assert len(stops) == 1 and "6 XP grant(s) and 6 message count(s) kept in" in stops[0], stops
        harness.bot = None
        await proxy.stop()

        harness.dsn = db_dsn  # the database answers again
        bot = await start(harness, cogs=["cogs.core", "cogs.xp", "cogs.achievements"])
        await bot.flush_all()
        assert await total_xp(bot.pool, alice.id) == 80
        assert await total_xp(bot.pool, bob.id) == 60
        assert await messages_of(bot.pool, alice.id) == 4
        assert await messages_of(bot.pool, bob.id) == 3
        assert not bot.doors.xp.engine.journal.files()
        assert await ledger.ledger_mismatches(bot.pool) == []
    finally:
        await harness.close()
        await proxy.stop()


async def test_staff_see_replay_and_discard_refused_writes_from_discord(harness):
    bot = await start(harness)
    mod, carol = harness.member("mod"), harness.member("carol")
    carol_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", carol.id)
    await bot.pool.execute(
        f"ALTER TABLE xp_ledger ADD CONSTRAINT refuse_carol CHECK (user_id <> '{carol_id}') NOT VALID"
    )
    carol.say("this grant is refused for now")
    await handled(bot, 1)

    listed = await mod.slash("deadletter list")
    assert listed.ephemeral and listed.embed["title"] == "Refused writes: 2 pending"
    assert "refuse_carol" in listed.embed["description"]
    refused = await carol.slash("deadletter list")
    assert refused.content == "Only staff can see refused writes."

    grant = await bot.pool.fetchval("SELECT id FROM dead_letters WHERE kind = 'xp_grant'")
    again = await mod.slash("deadletter replay", letter_id=grant, reason="try it now")
    assert again.ephemeral and "refused it again" in again.content
    await bot.pool.execute("ALTER TABLE xp_ledger DROP CONSTRAINT refuse_carol")
    done = await mod.slash("deadletter replay", letter_id=grant, reason="constraint removed")
    assert done.content.startswith(f"Dead letter {grant}: granted 20 XP")
    assert await total_xp(bot.pool, carol.id) == 20

    counts = await bot.pool.fetchval("SELECT id FROM dead_letters WHERE kind = 'activity'")
    gone = await mod.slash("deadletter discard", letter_id=counts, reason="one message, not worth it")
    assert gone.content == f"Dead letter {counts}: discarded."
    log = await bot.pool.fetch("SELECT action, reason, admin_id FROM admin_logs ORDER BY created_at")
    mod_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", mod.id)
    assert [(r["action"], r["reason"], r["admin_id"]) for r in log] == [
        ("dead_letter_replay", "constraint removed", mod_id),
        ("dead_letter_discard", "one message, not worth it", mod_id),
    ]
    assert (await mod.slash("deadletter list")).embed["title"] == "Refused writes: 0 pending"


async def test_counts_written_alone_without_xp_isolate_an_erased_member_too(probe):
    # The probe runs without the XP feature: chat counts have a flush of their own.
    bot = probe.bot
    assert [name for name, _ in bot.flushes] == ["activity", "analytics"]
    alice, bob = probe.member("alice"), probe.member("bob")
    alice.say("hello there")
    bob.say("hi alice")
    await handled(bot, 2)
    erased = await bot.pool.fetchval("DELETE FROM users WHERE discord_id = $1 RETURNING id", bob.id)
    alice.say("where did bob go?")
    bob.say("still here, as far as Discord knows")
    await handled(bot, 4)
    assert await messages_of(bot.pool, alice.id) == 2
    fresh = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", bob.id)
    assert fresh is not None and fresh != erased  # counted on a fresh row, not dead-lettered
    assert await messages_of(bot.pool, bob.id) == 1
    assert await bot.pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    bob.say("a fresh start")
    await handled(bot, 5)
    assert await messages_of(bot.pool, bob.id) == 2

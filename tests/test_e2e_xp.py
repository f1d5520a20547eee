"""XP from chat and voice, end to end: the real client, the stand-in, real rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from db import ledger
from standin import state as s
from standin.control import Actor
from tests.xp_support import handled, ledger_rows, start, total_xp


async def test_one_grant_per_cooldown_but_every_message_counts(harness):
    bot = await start(harness, cooldown_seconds=60)
    alice = harness.member("alice")
    for text in ("good morning all", "how is everyone", "ready for tonight?"):
        alice.say(text)
    await handled(bot, 3)
    rows = await ledger_rows(bot.pool, alice.id)
    assert [(r["source"], r["amount"]) for r in rows] == [("message", 20)]
    profile = await bot.pool.fetchrow(
        "SELECT message_count, total_xp FROM user_profiles up JOIN users u ON u.id = up.user_id WHERE u.discord_id=$1",
        alice.id,
    )
    assert (profile["message_count"], profile["total_xp"]) == (3, 20)


async def test_each_no_xp_rule_end_to_end(harness):
    quiet = harness.standin.add_channel("bot-spam")
    muted = harness.standin.add_role("No XP", position=3)
    bot = await start(harness, no_xp_channel_ids=[int(quiet.id)], no_xp_role_ids=[int(muted.id)])
    alice, bob = harness.member("alice"), harness.member("bob")
    robot = Actor(harness.standin, harness.standin.add_member("helper-bot", bot=True), harness.demo.general)
    bob.gain_role(muted)

    alice.say("a proper message here")  # earns
    alice.say("spam in the bot channel", channel=quiet)
    alice.say("<:wave:123456789012345678> https://example.com/x <@1>")  # too short once stripped
    alice.say("a proper message here")  # repeat of the previous one
    alice.say("posted through a webhook", via_webhook=True)
    alice.say("alice joined the server", message_type=7)  # a system message
    alice.dm_bot("a private word")
    robot.say("beep boop, I am a bot")
    bob.say("I hold the no-XP role")
    alice.say("and one more that earns")
    await handled(bot, 6)  # the webhook, system, DM and bot messages are not member chat

    sources = [r["source_ref"] for r in await ledger_rows(bot.pool, alice.id)]
    assert len(sources) == 2
    assert await ledger_rows(bot.pool, bob.id) == []
    assert (
        await bot.pool.fetchval(
            "SELECT count(*) FROM xp_ledger l JOIN users u ON u.id = l.user_id WHERE u.username = 'helper-bot'"
        )
        == 0
    )


async def test_pathway_xp_only_in_its_channels_for_members_who_joined(harness):
    gaming = harness.demo.pathway_channels["gaming"]
    thread = harness.standin.add_channel("speedrun-thread", type=s.PUBLIC_THREAD, parent=gaming)
    bot = await start(harness)
    alice, bob = harness.member("alice"), harness.member("bob")
    reply = await alice.slash("pathway join", pathway="gaming")
    assert reply.ephemeral and "Welcome to the Gaming Realm" in reply.content

    alice.say("gg everyone", channel=gaming)
    alice.say("general chatter", channel=harness.demo.general)
    alice.say("thread talk counts too", channel=thread)
    bob.say("not joined, so global only", channel=gaming)
    await handled(bot, 4)

    assert [r["pathway"] for r in await ledger_rows(bot.pool, alice.id)] == ["gaming", None, "gaming"]
    assert [r["pathway"] for r in await ledger_rows(bot.pool, bob.id)] == [None]
    user_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    assert await ledger.ledger_sum(bot.pool, user_id, "gaming") == 40
    gaming_total = await bot.pool.fetchval(
        "SELECT total_xp FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'", user_id
    )
    assert gaming_total == 40
    streak = await bot.pool.fetchval(
        "SELECT streak_days FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'", user_id
    )
    assert streak == 1


async def voice_xp(pool, discord_id: str) -> int:
    return sum(r["amount"] for r in await ledger_rows(pool, discord_id) if r["source"] == "voice")


async def test_voice_xp_accrues_per_full_minute_and_resumes_after_a_restart(harness):
    bot = await start(harness)
    bob, carol, alice = harness.member("bob"), harness.member("carol"), harness.member("alice")
    bob.join_voice(harness.demo.voice)
    carol.join_voice(harness.demo.voice)
    alice.join_voice(harness.demo.afk)
    alice.say("marker")  # once the bot has handled this, it has seen the voice states too
    await handled(bot, 1)
    now = datetime.now(UTC)
    assert bot.doors.xp.engine.voice_tick(elapsed=30, at=now) == 0
    assert bot.doors.xp.engine.voice_tick(elapsed=35, at=now) == 2  # bob and carol: 65 s each
    await bot.doors.xp.engine.flush()
    assert await voice_xp(bot.pool, bob.id) == 10
    assert await voice_xp(bot.pool, alice.id) == 0  # the AFK channel earns nothing

    carol.set_voice(self_mute=True)  # muted: carol stops earning, but still counts as company
    carol.say("marker 2")
    await handled(bot, 2)
    assert bot.doors.xp.engine.voice_tick(elapsed=60, at=now + timedelta(minutes=1)) == 1

    await harness.stop_bot()  # a graceful stop writes bob's minute
    bot = await start(harness)
    assert await voice_xp(bot.pool, bob.id) == 20
    assert bot.doors.xp.engine.voice_tick(elapsed=60, at=now + timedelta(minutes=2)) == 1  # tracking resumed
    await bot.doors.xp.engine.flush()
    minutes = await bot.pool.fetchval(
        "SELECT voice_minutes FROM user_profiles up JOIN users u ON u.id = up.user_id WHERE u.discord_id = $1", bob.id
    )
    assert minutes == 3
    assert await voice_xp(bot.pool, carol.id) == 10
    assert await ledger.ledger_mismatches(bot.pool) == []


async def test_the_same_message_event_delivered_twice_grants_once(harness):
    bot = await start(harness)
    alice = harness.member("alice")
    message = alice.say("this will be delivered twice")
    await handled(bot, 1)
    await harness.stop_bot()
    bot = await start(harness)  # a new process: its memory of the message is gone
    alice.redeliver(message)
    await handled(bot, 1)
    rows = await ledger_rows(bot.pool, alice.id)
    assert [r["source_ref"] for r in rows] == [message.id]
    assert await total_xp(bot.pool, alice.id) == 20


async def test_the_ledger_sums_to_every_members_total(harness):
    bot = await start(harness, message_min=15, message_max=25)
    await harness.member("bob").slash("pathway join", pathway="news")
    await harness.member("carol").slash("pathway join", pathway="news")  # pathway XP goes to its members
    for i in range(6):
        for name in ("alice", "bob", "carol"):
            harness.member(name).say(f"message number {i} from {name}", channel=harness.demo.pathway_channels["news"])
    await handled(bot, 18)
    mod = harness.member("mod")
    await mod.slash("xp give", member=harness.member("carol"), amount=500, reason="event prize", pathway="news")
    await mod.slash("xp take", member=harness.member("alice"), amount=10_000, reason="test take")
    assert await ledger.ledger_mismatches(bot.pool) == []
    assert await total_xp(bot.pool, harness.member("alice").id) == 0
    mismatched_pathways = await bot.pool.fetchval(
        """SELECT count(*) FROM pathway_progress pp
           WHERE pp.total_xp <> (SELECT COALESCE(sum(amount), 0) FROM xp_ledger l
                                 WHERE l.user_id = pp.user_id AND l.pathway = pp.pathway_id)"""
    )
    assert mismatched_pathways == 0


async def test_a_graceful_stop_under_load_loses_no_xp(harness):
    bot = await start(harness, flush_interval_seconds=60)
    members = [harness.demo.new_member(f"loadtester{i}") for i in range(30)]
    for round_no in range(20):
        for member in members:
            member.say(f"load message {round_no}")
    engine = bot.doors.xp.engine
    while engine.granted < 300:  # stop while messages are still arriving
        await __import__("asyncio").sleep(0.005)
    await harness.stop_bot()
    granted = engine.granted
    from db.pool import connect

    conn = await connect(harness.dsn)
    try:
        written = await conn.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'message'")
        assert written == granted
        assert await ledger.ledger_mismatches(conn) == []
    finally:
        await conn.close()


async def test_what_the_bot_remembers_per_member_stays_within_its_bound(harness):
    bot = await start(harness, cooldown_seconds=60)
    bot.doors.xp.engine.rules.max_members = 2  # the bound (RECENT_MEMBERS), small enough to reach here
    members = [harness.member(n) for n in ("alice", "bob", "carol")]
    for who in members:
        who.say(f"hello, I am {who.member.user.username}")
    await handled(bot, 3)
    assert bot.doors.xp.engine.rules.remembered == 2  # bob and carol; alice, the least recent, forgotten
    for who in members:
        assert await total_xp(bot.pool, who.id) == 20
    members[2].say("carol again, within her cooldown")  # still remembered: no second grant
    await handled(bot, 4)
    assert await total_xp(bot.pool, members[2].id) == 20
    # Members coming and going leave no lock behind (one per member with a join or leave in flight).
    for i in range(5):
        fan = harness.demo.new_member(f"fan{i}")
        await asyncio.sleep(0.05)
        fan.leave_guild()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while await bot.pool.fetchval("SELECT count(*) FROM users WHERE username LIKE 'fan%' AND NOT in_server") < 5:
        assert loop.time() < deadline, "the departures were not recorded"
        await asyncio.sleep(0.05)
    assert len(bot.identity.membership_locks) == 0

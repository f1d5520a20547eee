"""The rank index never drifts for long: after chat, a member leaving within a flush, a rejoin,
staff changes, a reversal, a restart with departures and the website's SQL awards, every position
equals a brute-force SQL order once the background check has run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.rules.ranking import XPCounter
from db import boards
from tests.test_e2e_core import wait_until
from tests.xp_support import handled, start


async def brute_force_mismatches(bot) -> list[str]:
    """Every (board, member) whose indexed position differs from SQL's count of members above."""
    engine = bot.doors.xp.engine
    wrong = []
    for key in engine.board_keys():
        board = boards.Board(*key)
        relation, args = board.relation(1)
        rows = await bot.pool.fetch(
            f"SELECT b.user_id, b.xp FROM ({relation}) b JOIN users u ON u.id = b.user_id WHERE u.in_server", *args
        )
        for row in rows:
            truth = 1 + await boards.count_above(bot.pool, board, row["xp"])
            indexed = engine.rankings.position(key, row["xp"])
            if indexed != truth:
                wrong.append(f"{key}: {row['user_id']} indexed {indexed}, SQL {truth}")
    return wrong


async def test_positions_match_sql_after_a_mixed_workload(harness):
    bot = await start(harness)
    demo = harness.demo
    actors = [harness.member(n) for n in ("alice", "bob", "carol")]
    actors += [demo.new_member(f"member{i}") for i in range(4)]
    for a in actors[:4]:
        await a.slash("pathway join", pathway="gaming")
    said = 0
    for round_ in range(3):
        for i, a in enumerate(actors):
            a.say(f"round {round_} message from {i}", channel=demo.pathway_channels["gaming"] if i % 2 else None)
            said += 1
    await handled(bot, said)

    leaver = actors[4]
    leaver.say("a last word before leaving")  # written by a flush that runs after the departure
    leaver.leave_guild()
    said += 1
    await handled(bot, said)
    returning = actors[5]
    returning.leave_guild()
    returning.rejoin_guild()
    await asyncio.sleep(0.3)

    mod = harness.member("mod")
    await mod.slash("xp give", member=actors[0], amount=5000, reason="tournament prize", pathway="gaming")
    await mod.slash("xp take", member=actors[1], amount=30, reason="spam")
    spam = actors[2].say("spam spam spam")
    said += 1
    await handled(bot, said)
    await mod.slash("xp reverse", message_id=spam.id, reason="spam")

    # The website awards XP and an achievement through the SQL functions, behind the bot's back.
    carol_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", actors[2].id)
    await bot.pool.execute("SELECT award_xp($1, 'gaming', 777)", carol_id)
    achievement = await bot.pool.fetchval("SELECT id FROM achievements WHERE xp > 0 ORDER BY id LIMIT 1")
    assert await bot.pool.fetchval("SELECT award_achievement($1, $2)", carol_id, achievement)

    drifted = await bot.doors.xp.engine.reconcile_rankings()
    assert ("all", None, "") in drifted and ("all", None, "gaming") in drifted  # the website's awards
    assert await brute_force_mismatches(bot) == []

    # A restart with departures while the bot was down.
    await harness.stop_bot()
    actors[6].leave_guild()
    bot = await start(harness)
    assert await brute_force_mismatches(bot) == []
    await bot.doors.xp.engine.reconcile_rankings()
    assert await brute_force_mismatches(bot) == []


async def test_the_background_check_repairs_drift_on_its_own(harness):
    bot = await start(harness)
    bot.scheduler.pause_job("xp:reconcile")
    alice, bob = harness.member("alice"), harness.member("bob")
    alice.say("alice earns first")
    for i in range(3):
        bob.say(f"bob earns more {i}")
    await handled(bot, 4)
    alice_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    await bot.pool.execute("SELECT award_xp($1, NULL, 100000)", alice_id)  # the website, behind the bot's back
    assert await brute_force_mismatches(bot) != []  # stale until the check runs

    bot.scheduler.resume_job("xp:reconcile")
    bot.scheduler.modify_job("xp:reconcile", next_run_time=datetime.now(UTC))  # as if its interval had passed

    async def agrees() -> bool:
        return await brute_force_mismatches(bot) == []

    await wait_until(agrees, timeout=5)


def test_growing_past_a_power_of_two_keeps_every_count():
    counter = XPCounter(capacity=4)
    values = [1, 3, 4, 4, 2]
    for v in values:
        counter.move(0, v)
    counter.move(0, 2**22 + 5)  # a staff gift: the tree doubles many times, each a copy
    counter.move(4, 2**21)
    values = [1, 3, 4, 2, 2**22 + 5, 2**21]
    for v in values:
        assert counter.position(v) == 1 + sum(1 for w in values if w > v)
    assert counter.size == 2**23 and counter.fingerprint() == (6, sum(values))

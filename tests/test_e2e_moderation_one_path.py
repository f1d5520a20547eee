"""Moderation in one path: what puts a sanction in force, changes it or lifts it agrees with Discord
whatever the order things arrive in: an edit never re-applies a timeout lifted meanwhile, a ban
Discord refuses is not in force, a newer sanction leaves the older one's timer nothing to lift,
and the bans found in Discord at the first start are on record as older than the bot."""

from __future__ import annotations

from tests.test_e2e_moderation import GUILD_CASES, delivered, start

SANCTIONS = "SELECT kind, status, target_discord_id FROM moderation_sanctions ORDER BY id"


async def settled(bot, timeout: float = 15.0) -> None:
    """Wait until the outbox has nothing pending."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'"):
        assert loop.time() < deadline, "the outbox did not settle"
        bot.outbox.wake()
        await asyncio.sleep(0.05)


async def test_an_edit_of_a_timeout_never_re_applies_it_after_an_untimeout(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    await delivered(bot, "timeout")
    member = harness.standin.guild.members[alice.id]
    assert member.communication_disabled_until is not None
    # Discord is flaky once: the edit's new end is retried a second later ...
    harness.standin.inject_failure("PATCH", f"/guilds/{harness.standin.guild.id}/members/{alice.id}", status=503)
    edited = await mod.slash("mod case edit", number=1, duration="2h")
    assert edited.content == "Case #1 updated; the previous values are kept."
    # ... and meanwhile another moderator lifts the timeout
    lifted = await mod.slash("mod untimeout", member=alice, reason="sorted out")
    assert lifted.content == "Case #2: untimeout alice."
    await settled(bot)
    assert member.communication_disabled_until is None  # Discord agrees with the record
    assert await bot.pool.fetch(SANCTIONS) == [("timeout", "lifted", alice.id)]
    late = await bot.pool.fetchrow("SELECT status, last_error FROM outbox WHERE dedupe_key LIKE 'sanction-apply:%'")
    assert late["status"] == "refused" and late["last_error"].startswith("superseded: the timeout is lifted")
    assert [r["action"] for r in await bot.pool.fetch(GUILD_CASES)] == ["timeout", "untimeout"]


async def test_a_ban_discord_refuses_is_not_in_force_and_the_moderator_is_told(harness):
    bot, modlog = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod ban", member=alice, reason="cool off", duration="2d")
    await delivered(bot, "ban")
    guild_id = harness.standin.guild.id
    # Since the checks, Discord no longer lets the bot ban her (e.g. her role was moved above it)
    harness.standin.inject_failure(
        "PUT", f"/guilds/{guild_id}/bans/{alice.id}", status=403, code=50013, message="Missing Permissions"
    )
    reply = await mod.slash("mod ban", member=alice, reason="for good")
    assert reply.content == "Case #2: ban alice (permanent)."
    told = await harness.standin.wait_for(
        lambda o: o.kind == "followup" and "refused" in (o.message.content or ""), timeout=10, past=True
    )
    assert told.message.ephemeral
    assert told.message.content.startswith("Discord refused case #2: I could not ban alice (missing permissions")
    assert told.message.content.endswith("Nothing is in force; the case says so.")
    await delivered(bot, "ban", 2)
    case = await bot.pool.fetchrow("SELECT metadata FROM moderation_logs ORDER BY id DESC LIMIT 1")
    assert case["metadata"]["action_failed"].startswith("missing permissions")
    shown = await mod.slash("mod case show", number=2)
    refused = next(f for f in shown.embed["fields"] if f["name"] == "Not done")
    assert refused["value"].startswith("Discord refused it: missing permissions")
    # the refused ban is not in force; the temporary one it was to replace still is, with its timer
    rows = await bot.pool.fetch("SELECT status, expires_at FROM moderation_sanctions ORDER BY id")
    assert [r["status"] for r in rows] == ["active", "failed"]
    timers = await bot.pool.fetch("SELECT payload FROM timers WHERE status = 'pending'")
    first = await bot.pool.fetchval("SELECT id FROM moderation_sanctions ORDER BY id LIMIT 1")
    assert [t["payload"]["sanction_id"] for t in timers] == [first]
    entry = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id and "refused" in (o.message.content or ""),
        timeout=10,
        past=True,
    )
    assert entry.message.content.startswith("Discord refused case #2")


async def test_a_refused_ban_leaves_no_lift_timer_and_nothing_in_force(harness):
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    guild_id = harness.standin.guild.id
    harness.standin.inject_failure(
        "PUT", f"/guilds/{guild_id}/bans/{bob.id}", status=403, code=50013, message="Missing Permissions"
    )
    await mod.slash("mod ban", member=bob, reason="raid", duration="1d")
    await delivered(bot, "ban")
    assert await bot.pool.fetch(SANCTIONS) == [("ban", "failed", bob.id)]
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 0
    assert bob.id not in harness.standin.guild.bans
    # nothing in force: a new ban goes through as usual
    assert (await mod.slash("mod ban", member=bob, reason="raid again")).content == "Case #2: ban bob (permanent)."
    await delivered(bot, "ban", 2)
    assert bob.id in harness.standin.guild.bans


async def test_a_ban_by_hand_during_a_temporary_ban_supersedes_it_so_its_expiry_lifts_nothing(harness):
    bot, _ = await start(harness)
    mod, owner, alice = harness.member("mod"), harness.member("owner"), harness.member("alice")
    dm_channel = harness.standin.dm_channel_for(alice.id)
    harness.standin.inject_failure("POST", f"/channels/{dm_channel.id}/messages", status=503, times=2)
    await mod.slash("mod ban", member=alice, reason="cool off", duration="3s")  # waits on its DM a while
    owner.ban_in_discord(alice, reason="she IS the raider")  # meanwhile, for good, in Discord's menus
    await delivered(bot, "ban", timeout=15)
    await harness.member("carol").slash("about")  # round trip: the ban events are handled
    rows = await bot.pool.fetch(GUILD_CASES)
    assert [(r["action"], r["reason"]) for r in rows] == [
        ("ban", "cool off"),
        ("ban", "banned in Discord: she IS the raider"),
    ]
    assert [r["status"] for r in await bot.pool.fetch(SANCTIONS)] == ["superseded", "active"]
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 0
    import asyncio

    await asyncio.sleep(3.2)  # the temporary ban's end passes
    await bot.timers.run_due()
    await settled(bot)
    assert alice.id in harness.standin.guild.bans
    assert "unban" not in [o.kind for o in harness.standin.outputs]


async def test_a_new_ban_while_the_old_ones_expiry_is_running_neither_waits_for_it_nor_deadlocks(harness):
    """The dispatcher holds a due timer's row and then waits for its sanction's; a new ban holds the
    sanction's row (superseding it) and cancels the timer: it leaves the running timer to its run."""
    from db import moderation, timers

    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod ban", member=bob, reason="cool off", duration="1h")
    await delivered(bot, "ban")
    timer_id, old = await bot.pool.fetchrow("SELECT id, (payload ->> 'sanction_id')::int FROM timers")
    async with bot.pool.acquire() as dispatcher, dispatcher.transaction():
        await dispatcher.execute("SELECT id FROM timers WHERE id = $1 FOR UPDATE", timer_id)  # as claim_due does
        reply = await mod.slash("mod ban", member=bob, reason="for good")  # on main: waits for the timer's row
        assert reply.content == "Case #2: ban bob (permanent)."
        assert await moderation.lock_active_sanction(dispatcher, old) is None  # superseded: nothing to lift
        await timers.mark_done(dispatcher, timer_id)
    assert [r["status"] for r in await bot.pool.fetch(SANCTIONS)] == ["superseded", "active"]
    await settled(bot)
    assert bob.id in harness.standin.guild.bans


async def test_bans_found_in_discord_at_the_first_start_are_on_record_as_pre_existing(harness):
    mod, bob, carol = harness.member("mod"), harness.member("bob"), harness.member("carol")
    mod.ban_in_discord(bob, reason="raid in 2023")  # long before the bot came
    bot, modlog = await start(harness)
    rows = await bot.pool.fetch(GUILD_CASES)
    assert [(r["action"], r["reason"]) for r in rows] == [("ban", "banned before the bot kept records: raid in 2023")]
    assert rows[0]["metadata"]["pre_existing"] is True and rows[0]["metadata"]["target_discord_id"] == bob.id
    assert await bot.pool.fetch(SANCTIONS) == [("ban", "active", bob.id)]
    summary = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id, timeout=10, past=True
    )
    assert summary.message.content == (
        "1 ban(s) were already in Discord when I first started: on record as pre-existing, case #1."
    )
    await harness.stop_bot()
    mod.ban_in_discord(carol, reason="alt account")  # this one while the bot was away
    bot, _ = await start(harness)
    rows = await bot.pool.fetch(GUILD_CASES)
    assert [r["reason"] for r in rows] == [
        "banned before the bot kept records: raid in 2023",
        "banned in Discord while the bot was offline: alt account",
    ]
    assert "pre_existing" not in rows[1]["metadata"]
    unbanned = await mod.slash("mod unban", user=bob.id, reason="old story")
    assert unbanned.content == "Case #3: unban bob."
    assert [s["status"] for s in await bot.pool.fetch(SANCTIONS)] == ["lifted", "active"]


async def _lock_waiters(bot) -> int:
    return await bot.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )


async def test_a_void_and_an_untimeout_of_one_timeout_at_once_take_their_locks_in_one_order(harness):
    """A void holds the case, then the sanction, then takes a case number for its lift; an untimeout
    takes the sanction before its case number too (on main it took the number first: each held what
    the other waited for, and PostgreSQL broke the deadlock by failing one of them)."""
    import asyncio

    from tests.test_e2e_core import wait_until

    bot, _ = await start(harness)
    mod, owner, alice = harness.member("mod"), harness.member("owner"), harness.member("alice")
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    await delivered(bot, "timeout")
    async with bot.pool.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT id FROM moderation_sanctions FOR UPDATE")  # someone busy with it
        void = asyncio.create_task(owner.slash("mod case void", number=1, reason="wrong member", timeout=15))

        async def one_waits():
            return await _lock_waiters(bot) >= 1

        async def both_wait():
            return await _lock_waiters(bot) >= 2

        await wait_until(one_waits)
        untimeout = asyncio.create_task(mod.slash("mod untimeout", member=alice, reason="sorted", timeout=15))
        await wait_until(both_wait)
        await tx.rollback()
    voided, lifted = await void, await untimeout
    assert voided.content == "Case #1 voided."
    assert lifted.content.startswith("Case #") and "untimeout alice" in lifted.content
    assert [s["status"] for s in await bot.pool.fetch(SANCTIONS)] == ["voided"]


async def test_a_slow_old_timeout_never_overwrites_the_newer_timeout_that_replaced_it(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    # Discord is flaky once: the first timeout's end is retried a second later ...
    harness.standin.inject_failure("PATCH", f"/guilds/{harness.standin.guild.id}/members/{alice.id}", status=503)
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    # ... and meanwhile a moderator replaces it with a longer one, which goes through at once
    assert (await mod.slash("mod timeout", member=alice, reason="again", duration="1d")).content == (
        "Case #2: timeout alice (1d)."
    )
    await settled(bot)
    until = harness.standin.guild.members[alice.id].communication_disabled_until
    newer = await bot.pool.fetchval("SELECT expires_at FROM moderation_sanctions WHERE status = 'active'")
    assert until == newer  # the newer timeout's end, in Discord as on record
    assert [s["status"] for s in await bot.pool.fetch(SANCTIONS)] == ["superseded", "active"]
    old = await bot.pool.fetchrow("SELECT status, last_error FROM outbox WHERE dedupe_key = 'case-action:1'")
    assert old["status"] == "refused" and old["last_error"].startswith("superseded: the timeout is superseded")

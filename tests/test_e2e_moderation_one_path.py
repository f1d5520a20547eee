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
    assert late["status"] == "refused" and late["last_error"].startswith("superseded: the timeout was lifted")
    assert [r["action"] for r in await bot.pool.fetch(GUILD_CASES)] == ["timeout", "untimeout"]

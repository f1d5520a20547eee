"""The outbox effects of one member's sanction take effect in the order they were decided: a retried
older timeout edit never overwrites a newer one, and a mute role grant queued before an unmute is
never delivered after it (however many grants were still being retried)."""

from __future__ import annotations

from datetime import timedelta

from tests.test_e2e_core import wait_until
from tests.test_e2e_moderation import delivered, start, start_with_mute_role
from tests.test_e2e_moderation_one_path import settled


async def test_a_retried_older_timeout_edit_never_overwrites_a_newer_one(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    await delivered(bot, "timeout")
    member = harness.standin.guild.members[alice.id]
    # Discord is flaky once: the first edit's new end (2 h) is retried a second later ...
    harness.standin.inject_failure("PATCH", f"/guilds/{harness.standin.guild.id}/members/{alice.id}", status=503)
    assert (await mod.slash("mod case edit", number=1, duration="2h")).content.startswith("Case #1 updated")
    # ... while a second edit (3 h) goes through at once
    assert (await mod.slash("mod case edit", number=1, duration="3h")).content.startswith("Case #1 updated")
    await settled(bot)
    opened = await bot.pool.fetchval("SELECT created_at FROM moderation_logs WHERE action = 'timeout'")
    expires = await bot.pool.fetchval("SELECT expires_at FROM moderation_sanctions")
    assert expires == opened + timedelta(hours=3)
    assert member.communication_disabled_until == expires  # Discord agrees with the record
    stale = await bot.pool.fetchrow(
        "SELECT status, last_error FROM outbox WHERE dedupe_key LIKE 'sanction-apply:%' ORDER BY id LIMIT 1"
    )
    assert stale["status"] == "refused" and stale["last_error"].startswith("superseded: a newer change")


async def test_a_mute_grant_queued_before_an_unmute_is_never_delivered_after_it(harness):
    muted = harness.standin.add_role("Muted", position=5)
    bot = await start_with_mute_role(harness, muted)
    mod, bob = harness.member("mod"), harness.member("bob")
    roles_path = f"/guilds/{harness.standin.guild.id}/members/{bob.id}/roles/{muted.id}"
    # The mute's own grant fails again and again (Discord's 5xx), each time retried later ...
    harness.standin.inject_failure("PUT", roles_path, status=503, times=3)
    assert (await mod.slash("mod mute", member=bob, reason="spam")).content == "Case #1: mute bob (permanent)."

    async def first_attempt_failed() -> bool:
        return await bot.pool.fetchval("SELECT attempts FROM outbox WHERE kind = 'add_role'") >= 1

    await wait_until(first_attempt_failed)
    # ... bob leaves and comes back: the rejoin's grant is queued too (and fails once)
    bob.leave_guild()
    bob.rejoin_guild()

    async def both_queued() -> bool:
        return await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'add_role'") == 2

    await wait_until(both_queued)
    # the unmute is queued while both grants are pending: it must come after both of them
    assert (await mod.slash("mod unmute", member=bob, reason="wrong member")).content == "Case #2: unmute bob."
    await settled(bot, timeout=30)
    assert muted.id not in harness.standin.guild.members[bob.id].roles  # Discord agrees: not muted
    assert [s["status"] for s in await bot.pool.fetch("SELECT status FROM moderation_sanctions")] == ["lifted"]
    removal = await bot.pool.fetchval("SELECT status FROM outbox WHERE kind = 'remove_role'")
    assert removal == "delivered"
    kinds = [o.kind for o in harness.standin.outputs if o.kind in ("role_add", "role_remove")]
    assert kinds[-1] == "role_remove"  # nothing gave the role back after the unmute

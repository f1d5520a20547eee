"""Moderation of people outside the server: looked up by a bare id without being written back as
members, named properly in replies."""

from __future__ import annotations

from standin import state as s
from tests.test_e2e_moderation import delivered, start

MEMBERSHIP = "SELECT in_server, roles FROM users WHERE discord_id = $1"


async def test_history_and_unban_by_a_bare_id_after_a_restart_name_the_user_and_leave_them_out_of_the_server(harness):
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod warn", member=bob, reason="spam")
    await mod.slash("mod ban", member=bob, reason="raid")
    await delivered(bot, "ban")
    await harness.stop_bot()
    bot, _ = await start(harness)  # a cold identity cache: every lookup reaches the database
    row = await bot.pool.fetchrow(MEMBERSHIP, bob.id)
    assert row["in_server"] is False

    history = await mod.slash("mod history", member=bob.id)  # typed as an id: Discord resolves no member
    assert history.ephemeral and history.embed["title"] == "Moderation history of bob"
    assert "Object" not in history.text
    unbanned = await mod.slash("mod unban", user=bob.id, reason="served their time")
    assert unbanned.ephemeral and unbanned.content == "Case #3: unban bob."
    await delivered(bot, "unban")
    assert bob.id not in harness.standin.guild.bans
    assert dict(await bot.pool.fetchrow(MEMBERSHIP, bob.id)) == dict(row)  # still not a member, roles kept

    nobody = await mod.slash("mod history", member="123456789012345678")
    assert nobody.ephemeral and nobody.content == "There is no Discord user with id 123456789012345678."
    stranger = s.User(id=harness.standin.ids.next(), username="stranger")  # a Discord user, never a member
    harness.standin.users[stranger.id] = stranger
    clean = await mod.slash("mod history", member=stranger.id)
    assert clean.ephemeral and clean.content == "stranger has no moderation history."
    assert await bot.pool.fetchval("SELECT count(*) FROM users WHERE discord_id = $1", stranger.id) == 0


async def test_an_appeal_from_the_ban_dm_after_a_restart_does_not_bring_the_member_back(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod ban", member=alice, reason="raid")
    await delivered(bot, "ban")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.data["recipient_id"] == alice.id, past=True)
    await harness.stop_bot()
    bot, _ = await start(harness)
    before = dict(await bot.pool.fetchrow(MEMBERSHIP, alice.id))
    assert before["in_server"] is False
    modal = await alice.click(dm.message, "Appeal")
    sent = await alice.submit(modal, {"Why should the staff reconsider?": "it was my brother"})
    assert sent.content.startswith("Your appeal of case #1 was sent")
    assert dict(await bot.pool.fetchrow(MEMBERSHIP, alice.id)) == before
    members = await bot.pool.fetchval("SELECT count(*) FROM users WHERE in_server AND discord_id = $1", alice.id)
    assert members == 0

"""/mydata: a member gets what the community keeps about them, and only that, as a file by DM."""

from __future__ import annotations

import json

from tests.xp_support import handled, start


async def test_mydata_sends_the_members_own_data_by_dm(harness):
    bot = await start(harness)
    alice, bob, mod = harness.member("alice"), harness.member("bob"), harness.member("mod")
    await alice.slash("pathway join", pathway="gaming")
    alice.say("hello", channel=harness.demo.pathway_channels["gaming"])
    bob.say("hi")
    await handled(bot, 2)
    await mod.slash("mod note", member=alice, reason="private note")
    await mod.slash("mod warn", member=alice, reason="be kind")
    reply = await alice.slash("mydata")
    assert reply.ephemeral and reply.content == "Sent to you by DM."
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.message.attachments, past=True)
    assert dm.data["recipient_id"] == alice.id
    data = json.loads(dm.message.attachments[0].data)
    assert data["account"]["discord_id"] == alice.id and data["profile"]["total_xp"] == 20
    assert [p["pathway_id"] for p in data["pathways"]] == ["gaming"]
    assert [(h["source"], h["xp"]) for h in data["xp_history"]] == [("message", 20)]
    assert [c["action"] for c in data["moderation_cases"]] == ["warn"]  # never the note
    assert bob.id not in dm.message.attachments[0].data.decode()
    logged = await bot.pool.fetchval("SELECT count(*) FROM admin_logs WHERE action = 'data_export'")
    assert logged == 1
    again = await alice.slash("mydata")
    assert again.content.startswith("Slow down: you can use this again in")


async def test_mydata_with_closed_dms_answers_here_for_the_member_only(harness):
    await start(harness)
    carol = harness.member("carol")
    harness.standin.users[carol.id].dms_open = False
    reply = await carol.slash("mydata")
    assert reply.ephemeral and reply.content == "Your DMs are closed, so here it is (only you can see this)."
    assert json.loads(reply.attachments[0].data)["account"]["discord_id"] == carol.id

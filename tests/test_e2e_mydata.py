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
    await bot.flush_all()  # analytics are written every 10 s
    reply = await alice.slash("mydata")
    assert reply.ephemeral and reply.content == "Sent to you by DM."
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.message.attachments, past=True)
    assert dm.data["recipient_id"] == alice.id
    data = json.loads(dm.message.attachments[0].data)
    assert data["account"]["discord_id"] == alice.id and data["profile"]["total_xp"] == 20
    assert [p["pathway_id"] for p in data["pathways"]] == ["gaming"]
    assert [(h["source"], h["xp"]) for h in data["xp_history"]] == [("message", 20)]
    assert [c["action"] for c in data["moderation_cases"]] == ["warn"]  # never the note
    assert {e["event_type"]: e["events"] for e in data["activity_events"]} == {"pathway_join": 1, "command_used": 1}
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


async def test_mydata_answers_in_time_when_the_dm_is_slow(harness):
    await start(harness)
    alice = harness.member("alice")
    dm = harness.standin.dm_channel_for(alice.id)
    harness.standin.inject_delay("POST", f"/channels/{dm.id}/messages", seconds=3.5)  # past Discord's 3 s
    reply = await alice.slash("mydata", timeout=15)
    assert reply.ephemeral and reply.content == "Sent to you by DM."
    assert reply.interaction.response_type == 5  # acknowledged at once, answered when the DM went
    sent = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.message.attachments, past=True)
    assert json.loads(sent.message.attachments[0].data)["account"]["discord_id"] == alice.id


async def test_mydata_with_closed_dms_still_delivers_the_file_when_discord_is_slow(harness):
    await start(harness)
    carol = harness.member("carol")
    harness.standin.users[carol.id].dms_open = False
    dm = harness.standin.dm_channel_for(carol.id)
    harness.standin.inject_delay("POST", f"/channels/{dm.id}/messages", seconds=3.5)  # then the refusal
    reply = await carol.slash("mydata", timeout=15)
    assert reply.ephemeral and reply.content == "Your DMs are closed, so here it is (only you can see this)."
    assert json.loads(reply.attachments[0].data)["account"]["discord_id"] == carol.id


async def test_a_failed_delivery_does_not_spend_the_hour(harness):
    bot = await start(harness)
    alice = harness.member("alice")
    dm = harness.standin.dm_channel_for(alice.id)
    too_large = {"status": 413, "code": 40005, "message": "Request entity too large"}
    harness.standin.inject_failure("POST", f"/channels/{dm.id}/messages", **too_large)
    harness.standin.inject_failure("POST", f"/webhooks/{harness.standin.application_id}/", **too_large)  # the reply too
    failed = await alice.slash("mydata", timeout=15)
    assert failed.ephemeral and failed.content.startswith("I couldn't deliver your data"), failed.content
    assert not failed.attachments
    assert await bot.pool.fetchval("SELECT count(*) FROM admin_logs WHERE action = 'data_export'") == 0
    again = await alice.slash("mydata", timeout=15)
    assert again.content == "Sent to you by DM."
    assert await bot.pool.fetchval("SELECT count(*) FROM admin_logs WHERE action = 'data_export'") == 1
    spent = await alice.slash("mydata")
    assert spent.ephemeral and spent.content.startswith("Slow down: you can use this again in")


async def test_erasure_removes_personal_data_and_keeps_the_cases_pseudonymised(harness):
    bot = await start(harness)
    alice, mod = harness.member("alice"), harness.member("mod")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    alice.say("hello")
    await handled(bot, 1)
    await mod.slash("mod warn", member=alice, reason="be kind")
    old_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    await bot.pool.execute(
        """UPDATE moderation_logs SET metadata = metadata || '{"message_excerpt": "my phone is 555", "evidence": ["link"]}'"""
    )
    await bot.pool.execute("INSERT INTO notifications (user_id, title) VALUES ($1, 'hi')", old_id)
    await bot.pool.execute(  # what the website records of a visit
        """INSERT INTO analytics (user_id, event_type, session_id, ip_address, user_agent, page_path)
           VALUES ($1, 'page_view', 's1', '203.0.113.9', 'Firefox', '/pathways/gaming')""",
        old_id,
    )
    refused = await mod.slash("erase", member=alice, reason="asked")
    assert refused.content == "Only the server's administrators can erase a member's data."
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    blocked = await boss.slash("erase", member=alice, reason="asked")
    assert blocked.content.startswith("A ban, timeout or mute is in force")
    await mod.slash("mod untimeout", member=alice, reason="done")
    done = await boss.slash("erase", member=alice, reason="GDPR request")
    assert done.ephemeral and done.content.startswith("Erased the personal data of that member (3 case(s) kept")
    row = await bot.pool.fetchrow("SELECT discord_id, username, nickname, in_server FROM users WHERE id = $1", old_id)
    assert row["discord_id"] == f"erased:{old_id}" and row["username"] == "erased member" and not row["in_server"]
    assert await bot.pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", old_id) == 0
    case = await bot.pool.fetchrow("SELECT reason, metadata FROM moderation_logs WHERE action = 'warn'")
    assert case["reason"] == "be kind" and case["metadata"]["target_discord_id"] == "erased"
    assert "message_excerpt" not in case["metadata"] and "evidence" not in case["metadata"]
    assert alice.id not in str(await bot.pool.fetch("SELECT metadata FROM moderation_logs"))
    logged = await bot.pool.fetchrow("SELECT reason, new_value FROM admin_logs WHERE action = 'erasure'")
    assert logged["reason"] == "GDPR request" and logged["new_value"]["cases_pseudonymised"] == 3
    visit = await bot.pool.fetchrow(
        "SELECT user_id, session_id, ip_address, user_agent, page_path FROM analytics WHERE event_type = 'page_view'"
    )
    assert dict(visit) == {
        "user_id": None,
        "session_id": None,
        "ip_address": None,
        "user_agent": None,
        "page_path": "/pathways/gaming",  # the count stays for the charts
    }
    assert logged["new_value"]["analytics_detached"] == 1
    alice.say("I'm back")  # a fresh start: a new row
    await handled(bot, 2)
    fresh = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    assert fresh is not None and fresh != old_id

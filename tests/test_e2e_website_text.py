"""Text the website writes (TEXT columns, no bound) reaches embeds bounded: Discord would refuse a
reply over its limits, and the member would see 'Something went wrong' until the row changed."""

from __future__ import annotations

from tests.test_e2e_achievements import handled, start, user_id_of


async def test_a_long_notification_title_from_the_website_still_shows_the_inbox(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice = harness.member("alice")
    alice.say("hello")
    await handled(bot, 1)
    alice_id = await user_id_of(bot, alice)
    for _ in range(5):  # a full page of them
        await bot.pool.execute(
            "INSERT INTO notifications (user_id, title, message) VALUES ($1, $2, 'hi')", alice_id, "*" * 2500
        )
    reply = await alice.slash("notifications", timeout=10)
    assert reply.embeds and len(reply.embed["description"]) <= 4096
    assert "…" in reply.embed["description"]
    # (the harness fails the test if the stand-in refused anything the bot sent)


async def test_a_long_event_title_from_the_website_still_shows_info_and_list(harness):
    from tests.test_e2e_events import create, the_event
    from tests.test_e2e_events import start as start_events

    bot = await start_events(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await create(mod, places="5")
    event_id = (await the_event(bot))["id"]
    await bot.pool.execute("UPDATE events SET title = $2 WHERE id = $1::uuid", event_id, "Long " * 60)
    info = await alice.slash("event info", event=event_id, timeout=10)
    assert info.embeds and len(info.embed["title"]) <= 256 and info.embed["title"].endswith("…")
    listed = await alice.slash("event list", timeout=10)
    assert listed.embeds

"""Community events end to end: the real client through the stand-in, real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.core.community import AnnouncementConfig, EventsConfig, XPConfig
from cogs.events.lifecycle import materialise_next, schedule
from cogs.events.registration import register
from db import events
from db.pool import connect
from tests.test_e2e_moderation import delivered

EVENTS = "SELECT id::text, title, status, current_participants, participants, max_participants FROM events"


async def start(harness, *, timezone: str = "UTC", **events_settings):
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.xp", "cogs.moderation", "cogs.events"],
        announcements=AnnouncementConfig(general_channel_id=int(demo.general.id)),
        events=EventsConfig(**events_settings),
        xp=XPConfig(timezone=timezone),
    )
    return await harness.start_bot()


def when(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


async def create(
    actor, *, title="Game night", start=timedelta(days=2), end=timedelta(days=2, hours=2), places="", **options
):
    form = await actor.slash("event create", **options)
    assert form.modal is not None, form.content
    return await actor.submit(
        form,
        {
            "Title": title,
            "Description": "Bring snacks",
            form.modal["components"][2]["components"][0]["custom_id"]
            if "components" in form.modal["components"][2]
            else "Start": when(start),
            "End (optional), same format": when(end) if end is not None else "",
            "Places (empty: no limit)": places,
        },
    )


async def the_event(bot) -> dict:
    rows = await bot.pool.fetch(EVENTS)
    assert len(rows) == 1
    return dict(rows[0])


async def test_a_host_creates_an_event_through_the_form_and_it_is_announced_with_buttons(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    refused = await alice.slash("event create")
    assert refused.ephemeral and refused.content == "Only staff and event hosts can create events."
    made = await create(mod, places="10", xp_reward=50, pathway="gaming")
    assert made.ephemeral and made.content.startswith("Event **Game night** created and announced.")
    event = await the_event(bot)
    assert (event["title"], event["status"], event["max_participants"]) == ("Game night", "upcoming", 10)
    kinds = await bot.pool.fetch("SELECT kind FROM timers WHERE status = 'pending' ORDER BY due_at")
    assert [k["kind"] for k in kinds] == ["event_reminder", "event_reminder", "event_start", "event_end"]
    await delivered(bot, "channel_message")
    post = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.embeds and o.message.embeds[0]["title"] == "Game night", past=True
    )
    labels = [c["label"] for c in post.message.components[0]["components"]]
    assert labels == ["Register", "Leave", "Check in"]
    joined = await alice.click(post.message, "Register")
    assert joined.ephemeral and joined.content.startswith("You are registered for **Game night**")
    again = await alice.click(post.message, "Register")
    assert again.content == "You are already registered for **Game night**."
    event = await the_event(bot)
    assert event["current_participants"] == 1 and len(event["participants"]) == 1
    left = await alice.click(post.message, "Leave")
    assert left.content == "You left **Game night**."
    assert (await the_event(bot))["current_participants"] == 0


async def test_the_form_opens_where_the_time_zone_has_a_long_name_and_reads_times_in_it(harness):
    zone = "America/Argentina/ComodRivadavia"  # the longest IANA name: 32 characters, UTC-3 all year
    bot = await start(harness, timezone=zone)
    mod = harness.member("mod")
    form = await mod.slash("event create")
    assert form.modal is not None, form.content  # Discord refuses a text-input label over 45 characters
    start_input = form.modal["components"][2]["components"][0]
    assert zone in start_input["placeholder"] and len(start_input["label"]) <= 45
    year = datetime.now(UTC).year + 1
    made = await mod.submit(
        form,
        {
            "Title": "Asado",
            "Description": "",
            start_input["custom_id"]: f"{year}-12-05 20:00",
            "End (optional), same format": f"{year}-12-05 23:00",
            "Places (empty: no limit)": "",
        },
    )
    assert made.content.startswith("Event **Asado** created and announced."), made.content
    starts = await bot.pool.fetchval("SELECT start_date FROM events")
    assert starts == datetime(year, 12, 5, 23, 0, tzinfo=UTC)


async def test_bad_dates_get_a_clear_message(harness):
    bot = await start(harness)
    mod = harness.member("mod")
    past = await create(mod, start=timedelta(hours=-1), end=None)
    assert past.content == "The start is in the past."
    backwards = await create(mod, start=timedelta(days=1), end=timedelta(hours=20))
    assert backwards.content == "The end is not after the start."
    form = await mod.slash("event create")
    nonsense = await mod.submit(form, {"Title": "X", "End (optional), same format": "", "Places (empty: no limit)": "",
                                       form.modal["components"][2]["components"][0]["custom_id"]: "next tuesday-ish"})  # fmt: skip
    assert nonsense.content.startswith("'next tuesday-ish' is not a date and time: write it like")
    assert await bot.pool.fetchval("SELECT count(*) FROM events") == 0


async def test_eligibility_refusals_each_have_a_reason(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    vip = harness.standin.add_role("VIP", position=4)
    await create(mod, title="Elite", min_level=5)
    elite = (await the_event(bot))["id"]
    refused = await alice.slash("event register", event=elite)
    assert refused.ephemeral and refused.content == "This event needs level 5; you are level 1."
    await bot.pool.execute("DELETE FROM events")
    await create(mod, title="Gamers", required_pathway="gaming")
    gamers = (await the_event(bot))["id"]
    assert (await alice.slash("event register", event=gamers)).content == (
        "This event is for members of the gaming pathway (/pathway join)."
    )
    await alice.slash("pathway join", pathway="gaming")
    assert (await alice.slash("event register", event=gamers)).content.startswith("You are registered")
    await bot.pool.execute("DELETE FROM events")
    await create(mod, title="VIP night", required_role=vip)
    vip_night = (await the_event(bot))["id"]
    assert (await alice.slash("event register", event=vip_night)).content == "This event needs the role(s): VIP."
    await bot.pool.execute("UPDATE events SET registration_deadline = NOW() - interval '1 minute'")
    alice.gain_role(vip)
    await asyncio.sleep(0.2)
    assert (await alice.slash("event register", event=vip_night)).content == "The registration deadline has passed."
    await bot.pool.execute("UPDATE events SET registration_deadline = NULL")
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    await delivered(bot, "timeout")
    assert (await alice.slash("event register", event=vip_night)).content == (
        "You can't register while a timeout is in force."
    )
    missing = await alice.slash("event register", event="not-an-event")
    assert missing.content == "There is no such event."


async def five_places_thirty_fans(harness):
    """The bot, an event of 5 places, and 30 new members (their actors and discord.py members)."""
    bot = await start(harness)
    await create(harness.member("mod"), places="5")
    event_id = (await the_event(bot))["id"]
    actors = [harness.demo.new_member(f"fan{i}") for i in range(30)]
    await asyncio.sleep(0.3)
    return bot, event_id, actors, [bot.home_guild.get_member(int(a.id)) for a in actors]


async def test_capacity_holds_under_concurrency_and_the_waitlist_is_first_come_first_served(harness):
    bot, event_id, actors, members = await five_places_thirty_fans(harness)
    answers = await asyncio.gather(*(register(bot, event_id, m) for m in members))
    assert sum(a.startswith("You are registered") for a in answers) == 5
    assert sum("on the waitlist" in a for a in answers) == 25
    event = await the_event(bot)
    registered = await bot.pool.fetch(
        "SELECT user_id FROM event_registrations WHERE status = 'registered' ORDER BY registered_at"
    )
    assert event["current_participants"] == 5 == len(registered) and sorted(event["participants"]) == sorted(
        r["user_id"] for r in registered
    )
    queue = await bot.pool.fetch(
        "SELECT user_id, registered_at FROM event_registrations WHERE status = 'waitlisted' ORDER BY registered_at, id"
    )
    first_waiting = queue[0]["user_id"]
    # A registered member leaves: the first waiting takes the place and is told by DM.
    registered_discord = await bot.pool.fetchval(
        """SELECT u.discord_id FROM event_registrations r JOIN users u ON u.id = r.user_id
           WHERE r.status = 'registered' LIMIT 1"""
    )
    leaver = next(a for a in actors if a.id == registered_discord)
    assert (await leaver.slash("event leave", event=event_id)).content == "You left **Game night**."
    promoted = await bot.pool.fetchval("SELECT status FROM event_registrations WHERE user_id = $1", first_waiting)
    assert promoted == "registered"
    event = await the_event(bot)
    assert event["current_participants"] == 5 and first_waiting in event["participants"]
    await delivered(bot, "dm")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm", past=True)
    promoted_discord = await bot.pool.fetchval("SELECT discord_id FROM users WHERE id = $1", first_waiting)
    assert dm.data["recipient_id"] == promoted_discord and dm.message.embeds[0]["title"] == "You're in: Game night"
    second = await bot.pool.fetchval("SELECT count(*) FROM event_registrations WHERE status = 'waitlisted'")
    assert second == 24


async def test_registrations_are_served_strictly_in_the_order_they_arrive(harness):
    bot, event_id, actors, members = await five_places_thirty_fans(harness)
    # New members all at once: each one's first contact (their users row) is part of their turn.
    await bot.pool.execute("DELETE FROM users WHERE username LIKE 'fan%'")
    for m in members:
        bot.identity.forget(m.id)
    answers = await asyncio.gather(*(register(bot, event_id, m) for m in members))
    assert all(a.startswith("You are registered") for a in answers[:5])
    assert [a.split("number ")[1].split(".")[0] for a in answers[5:]] == [str(n) for n in range(1, 26)]
    rows = await bot.pool.fetch(
        """SELECT u.discord_id, r.status FROM event_registrations r JOIN users u ON u.id = r.user_id
           ORDER BY r.registered_at, r.id"""
    )
    assert [r["discord_id"] for r in rows] == [a.id for a in actors]


async def test_reminders_are_sent_once_across_a_restart_and_the_status_follows_the_clock(harness):
    bot = await start(harness, reminders=["4s"], default_length="3s")
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    await create(mod, start=timedelta(seconds=6), end=None)
    event_id = (await the_event(bot))["id"]
    await alice.slash("event register", event=event_id)
    await bob.slash("event register", event=event_id)
    await bob.slash("event reminders", event=event_id, on=False)
    await harness.stop_bot()
    await asyncio.sleep(3)  # the reminder falls due while the bot is down
    bot = await start(harness, reminders=["4s"], default_length="3s")
    await delivered(bot, "dm")
    reminders = [o for o in harness.standin.outputs if o.kind == "dm" and "Reminder" in o.message.embeds[0]["title"]]
    assert [r.data["recipient_id"] for r in reminders] == [alice.id]  # bob turned them off
    deadline = asyncio.get_running_loop().time() + 15
    seen = set()
    while asyncio.get_running_loop().time() < deadline:
        seen.add((await the_event(bot))["status"])
        if "completed" in seen:
            break
        await asyncio.sleep(0.2)
    assert {"ongoing", "completed"} <= seen
    await asyncio.sleep(0.5)
    again = [o for o in harness.standin.outputs if o.kind == "dm" and "Reminder" in o.message.embeds[0]["title"]]
    assert len(again) == 1  # once, whatever the restart


async def test_cancel_tells_everyone_and_only_hosts_may(harness):
    bot = await start(harness)
    mod, alice, bob, carol = (harness.member(n) for n in ("mod", "alice", "bob", "carol"))
    await create(mod, places="1")
    event_id = (await the_event(bot))["id"]
    await alice.slash("event register", event=event_id)
    waiting = await bob.slash("event register", event=event_id)
    assert waiting.content.startswith("The event is full: you are on the waitlist for **Game night**, number 1.")
    refused = await carol.slash("event cancel", event=event_id, reason="no")
    assert refused.content == "Only staff and the event's hosts can change it."
    done = await mod.slash("event cancel", event=event_id, reason="the host is ill")
    assert done.content == "Event **Game night** cancelled; 2 member(s) will be told by DM."
    await delivered(bot, "dm", 2)
    told = sorted(o.data["recipient_id"] for o in harness.standin.outputs if o.kind == "dm")
    assert told == sorted([alice.id, bob.id])
    event = await the_event(bot)
    assert event["status"] == "cancelled"
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 0
    closed = await carol.slash("event register", event=event_id)
    assert closed.content == "This event was cancelled."


async def test_an_event_the_website_writes_is_picked_up(harness):
    bot = await start(harness)
    start_at = datetime.now(UTC) + timedelta(days=2)
    event_id = await bot.pool.fetchval(
        """INSERT INTO events (title, type, start_date, max_participants, status)
           VALUES ('Website meetup', 'community', $1, 20, 'upcoming') RETURNING id::text""",
        start_at,
    )
    scheduled = await bot.get_cog("EventJobs")._reconcile()  # what runs every minute
    assert scheduled is None
    kinds = await bot.pool.fetch("SELECT kind FROM timers WHERE payload ->> 'event_id' = $1", event_id)
    assert sorted(k["kind"] for k in kinds) == ["event_end", "event_reminder", "event_reminder", "event_start"]
    # The website moves it: the bot reschedules for the new time.
    await bot.pool.execute("UPDATE events SET start_date = start_date + interval '1 day'")
    await bot.get_cog("EventJobs")._reconcile()
    pending = await bot.pool.fetch(
        "SELECT kind, payload FROM timers WHERE payload ->> 'event_id' = $1 AND status = 'pending'", event_id
    )
    assert len(pending) == 4 and all(
        p["payload"]["start"] == (start_at + timedelta(days=1)).isoformat() for p in pending
    )
    listed = await harness.member("alice").slash("event list")
    assert "Website meetup" in listed.embed["description"]
    info = await harness.member("alice").slash("event info", event=event_id)
    assert (
        info.embed["title"] == "Website meetup"
        and {"name": "Places", "value": "0 / 20", "inline": True} in info.embed["fields"]
    )
    assert await events.get(bot.pool, event_id) is not None


async def wait_status(bot, status: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await the_event(bot))["status"] != status:
        assert loop.time() < deadline, f"the event never became {status}"
        await asyncio.sleep(0.1)


async def test_attendance_from_voice_rewards_once_and_no_shows_are_marked(harness):
    bot = await start(harness, reminders=[], default_length="6s", attend_minutes=1)
    mod, alice, bob, carol = (harness.member(n) for n in ("mod", "alice", "bob", "carol"))
    await alice.slash("pathway join", pathway="gaming")  # a Gaming event's XP counts in Gaming for its members
    await create(
        mod, start=timedelta(seconds=2), end=None, xp_reward=50, voice_channel=harness.demo.voice, pathway="gaming"
    )
    event_id = (await the_event(bot))["id"]
    await alice.slash("event register", event=event_id)
    await bob.slash("event register", event=event_id)
    early = await alice.slash("event register", event=event_id)
    assert early.content == "You are already registered for **Game night**."
    await wait_status(bot, "ongoing")
    alice.join_voice(harness.demo.voice)
    carol.join_voice(harness.demo.voice)  # there, but not registered: not counted
    alice.say("marker")
    await asyncio.sleep(0.3)
    now = datetime.now(UTC)
    bot.doors.xp.engine.voice_tick(elapsed=61, at=now)
    await bot.flush_all()
    bot.doors.xp.engine.voice_tick(elapsed=61, at=now + timedelta(minutes=1))  # a second minute: no second reward
    await bot.flush_all()
    rows = await bot.pool.fetch(
        """SELECT u.discord_id, r.status, r.voice_minutes FROM event_registrations r JOIN users u ON u.id = r.user_id
           ORDER BY u.discord_id"""
    )
    by_member = {r["discord_id"]: (r["status"], r["voice_minutes"]) for r in rows}
    assert by_member[alice.id] == ("attended", 2) and by_member[bob.id] == ("registered", 0)
    rewards = await bot.pool.fetch("SELECT user_id, pathway, amount FROM xp_ledger WHERE source = 'event'")
    assert [(r["pathway"], r["amount"]) for r in rewards] == [("gaming", 50)]
    attended = await bot.pool.fetchval(
        """SELECT up.events_attended FROM user_profiles up JOIN users u ON u.id = up.user_id
           WHERE u.discord_id = $1""",
        alice.id,
    )
    assert attended == 1
    await wait_status(bot, "completed")
    assert (await bot.pool.fetchval(
        "SELECT r.status FROM event_registrations r JOIN users u ON u.id = r.user_id WHERE u.discord_id = $1", bob.id
    )) == "no-show"  # fmt: skip


async def test_check_in_for_an_event_without_voice(harness):
    bot = await start(harness, reminders=[], default_length="8s")
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    await create(mod, start=timedelta(seconds=2), end=None, xp_reward=30)
    post = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.embeds and o.message.embeds[0]["title"] == "Game night"
    )
    await alice.click(post.message, "Register")
    too_soon = await alice.click(post.message, "Check in")
    assert too_soon.content == "Check-in is open while the event is on."
    await wait_status(bot, "ongoing")
    done = await alice.click(post.message, "Check in")
    assert done.content == "Checked in to **Game night**: enjoy!"
    twice = await alice.click(post.message, "Check in")
    assert twice.content == "You're checked in already, or not registered for this event."
    stranger = await bob.click(post.message, "Check in")
    assert stranger.content == "You're checked in already, or not registered for this event."
    rewards = await bot.pool.fetch("SELECT amount FROM xp_ledger WHERE source = 'event'")
    assert [r["amount"] for r in rewards] == [30]


async def test_attendees_still_hold_their_places_while_the_event_is_on(harness):
    bot = await start(harness, reminders=[], default_length="20s")
    mod, alice, bob, carol = (harness.member(n) for n in ("mod", "alice", "bob", "carol"))
    await create(mod, start=timedelta(seconds=2), end=None, places="3")
    event_id = (await the_event(bot))["id"]
    fans = [harness.demo.new_member(f"fan{i}") for i in range(3)]
    await asyncio.sleep(0.3)
    for who in (alice, bob, carol, *fans):
        await who.slash("event register", event=event_id)
    await wait_status(bot, "ongoing")
    post = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.embeds and o.message.embeds[0]["title"] == "Game night", past=True
    )
    for who in (alice, bob):
        assert (await who.click(post.message, "Check in")).content == "Checked in to **Game night**: enjoy!"
    # Two attendees and carol hold the three places: carol leaving frees one place, not three.
    assert (await carol.slash("event leave", event=event_id)).content == "You left **Game night**."
    rows = await bot.pool.fetch("SELECT status, count(*) AS n FROM event_registrations GROUP BY status")
    assert {r["status"]: r["n"] for r in rows} == {"attended": 2, "registered": 1, "waitlisted": 2, "cancelled": 1}
    first_fan = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", fans[0].id)
    assert await bot.pool.fetchval("SELECT user_id FROM event_registrations WHERE status = 'registered'") == first_fan
    event = await the_event(bot)
    assert event["current_participants"] == 3 == event["max_participants"]


async def test_attendees_rate_the_event_and_others_are_refused(harness):
    bot = await start(harness, reminders=[], default_length="3s")
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    await create(mod, start=timedelta(seconds=2), end=None)
    event_id = (await the_event(bot))["id"]
    await alice.slash("event register", event=event_id)
    await bob.slash("event register", event=event_id)
    early = await alice.slash("event rate", event=event_id)
    assert early.content == "Ratings open once the event is over."
    await wait_status(bot, "ongoing")
    post = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.embeds and o.message.embeds[0]["title"] == "Game night", past=True
    )
    await alice.click(post.message, "Check in")
    await wait_status(bot, "completed")
    await delivered(bot, "dm")
    ask = await harness.standin.wait_for(
        lambda o: o.kind == "dm" and o.message.embeds[0]["title"] == "How was Game night?", past=True
    )
    assert ask.data["recipient_id"] == alice.id  # bob never came: a no-show, not asked
    form = await alice.click(ask.message, "Rate")  # in the DM
    bad = await alice.submit(form, {"Rating, 1 to 5": "9", "Anything to tell the host? (optional)": ""})
    assert bad.content == "A rating is a whole number from 1 to 5."
    form = await alice.click(ask.message, "Rate")
    thanks = await alice.submit(form, {"Rating, 1 to 5": "4", "Anything to tell the host? (optional)": "More maps!"})
    assert thanks.content == "Thanks: you rated **Game night** 4/5."
    refused = await bob.slash("event rate", event=event_id)
    assert refused.content == "Only members who attended can rate an event."
    row = await bot.pool.fetchrow("SELECT rating, feedback FROM event_registrations WHERE rating IS NOT NULL")
    assert row["rating"] == 4 and row["feedback"] == {"comments": "More maps!"}
    info = await mod.slash("event info", event=event_id)
    fields = {f["name"]: f["value"] for f in info.embed["fields"]}
    assert fields["Rating"] == "4.0 / 5 (1 rating(s))"
    assert fields["Host's record"] == "1 event(s) held, rated 4.0 / 5 (1)"


async def test_a_weekly_series_makes_its_next_occurrence_and_series_edits_carry_forward(harness):
    bot = await start(harness, reminders=[], default_length="2s")
    mod = harness.member("mod")
    made = await create(mod, start=timedelta(seconds=2), end=None, places="8", repeat="weekly")
    assert made.content.startswith("Event **Game night** created")
    first = await bot.pool.fetchrow("SELECT id::text, start_date, recurring, recurrence_pattern FROM events")
    assert first["recurring"] and first["recurrence_pattern"]["series"] == first["id"]
    assert first["recurrence_pattern"]["frequency"] == "weekly" and first["recurrence_pattern"]["interval"] == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while await bot.pool.fetchval("SELECT count(*) FROM events") < 2:
        assert loop.time() < deadline, "no next occurrence"
        await asyncio.sleep(0.1)
    second = await bot.pool.fetchrow(
        "SELECT id::text, start_date, status, max_participants, recurrence_pattern FROM events WHERE id <> $1::uuid",
        first["id"],
    )
    assert second["start_date"] == first["start_date"] + timedelta(days=7)
    assert (second["status"], second["max_participants"]) == ("upcoming", 8)
    assert second["recurrence_pattern"]["series"] == first["id"]
    kinds = await bot.pool.fetch("SELECT kind FROM timers WHERE payload ->> 'event_id' = $1", second["id"])
    assert sorted(k["kind"] for k in kinds) == ["event_end", "event_start"]
    only_this = await mod.slash("event edit", event=second["id"], title="Special night")
    assert only_this.content == "Event **Special night** updated."
    series = await mod.slash("event edit", event=second["id"], places=12, series=True)
    assert series.content == "Event **Special night** updated (and the occurrences to come)."
    pattern = await bot.pool.fetchval("SELECT recurrence_pattern FROM events WHERE id = $1::uuid", second["id"])
    assert pattern["template"]["title"] == "Game night" and pattern["template"]["max_participants"] == 12
    async with bot.pool.acquire() as conn, conn.transaction():  # the third, as the second's end would make it
        third = await materialise_next(conn, bot, await events.get(conn, second["id"]))
    assert third.title == "Game night" and third.max_participants == 12
    assert third.start_date == first["start_date"] + timedelta(days=14)
    single = await mod.slash("event edit", event=first["id"], title="x", series=True)
    assert single.content == "This event is completed; it can't be changed."


async def test_cancelling_one_occurrence_keeps_the_series_going(harness):
    bot = await start(harness, reminders=[], default_length="2s")
    mod, alice = harness.member("mod"), harness.member("alice")
    await create(mod, start=timedelta(days=1), end=None, places="8", repeat="weekly")
    first = await bot.pool.fetchrow("SELECT id::text, start_date FROM events")
    await alice.slash("event register", event=first["id"])
    done = await mod.slash("event cancel", event=first["id"], reason="the host is away this week")
    assert done.content.startswith("Event **Game night** cancelled; 1 member(s) will be told by DM.")
    assert "The series goes on: next on <t:" in done.content
    rows = await bot.pool.fetch("SELECT id::text, start_date, status FROM events ORDER BY start_date")
    assert [(r["status"], r["start_date"] - first["start_date"]) for r in rows] == [
        ("cancelled", timedelta(0)),
        ("upcoming", timedelta(days=7)),
    ]
    kinds = await bot.pool.fetch(
        "SELECT kind FROM timers WHERE status = 'pending' AND payload ->> 'event_id' = $1", rows[1]["id"]
    )
    assert sorted(k["kind"] for k in kinds) == ["event_end", "event_start"]

    # An occurrence the website cancels (its timers left as they were) keeps the series going too.
    soon = datetime.now(UTC) + timedelta(seconds=1)
    await bot.pool.execute(
        """UPDATE events SET start_date = $2,
                  recurrence_pattern = recurrence_pattern || jsonb_build_object('anchor', $3::text, 'slot', $3::text)
           WHERE id = $1::uuid""",
        rows[1]["id"],
        soon,
        soon.isoformat(),
    )
    async with bot.pool.acquire() as conn, conn.transaction():  # its new times, as the reconcile would
        await schedule(conn, bot, await events.get(conn, rows[1]["id"]))
    bot.timers.wake()
    await bot.pool.execute(
        "UPDATE events SET status = 'cancelled', is_active = false WHERE id = $1::uuid", rows[1]["id"]
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while await bot.pool.fetchval("SELECT count(*) FROM events WHERE status = 'upcoming'") < 1:
        assert loop.time() < deadline, "the series ended with the cancelled occurrence"
        await asyncio.sleep(0.1)


async def test_after_downtime_longer_than_the_interval_only_the_next_occurrence_is_made(harness):
    bot = await start(harness, reminders=[], default_length="1h")
    mod = harness.member("mod")
    await create(mod, start=timedelta(days=2), end=None, repeat="weekly")
    await delivered(bot, "channel_message")  # announced (a stop mid-delivery would send it again)
    await harness.stop_bot()
    # The bot was away for weeks: the occurrence was due 23 days ago and none since was made.
    shift = timedelta(days=25)
    conn = await connect(harness.dsn)
    try:
        row = await conn.fetchrow("SELECT id::text, start_date, recurrence_pattern FROM events")
        pattern = dict(row["recurrence_pattern"])
        for key in ("anchor", "slot"):
            pattern[key] = (datetime.fromisoformat(pattern[key]) - shift).isoformat()
        await conn.execute(
            "UPDATE events SET start_date = start_date - $2::interval, recurrence_pattern = $3 WHERE id = $1::uuid",
            row["id"],
            shift,
            pattern,
        )
    finally:
        await conn.close()
    bot = await start(harness, reminders=[], default_length="1h")  # its start and end are due now
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while await bot.pool.fetchval("SELECT count(*) FROM events WHERE status = 'completed'") < 1:
        assert loop.time() < deadline, "the late occurrence never completed"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # time for missed occurrences to be made, were they made
    rows = await bot.pool.fetch("SELECT start_date, status FROM events ORDER BY start_date")
    assert [(r["status"], r["start_date"] - (row["start_date"] - shift)) for r in rows] == [
        ("completed", timedelta(0)),
        ("upcoming", timedelta(days=28)),  # the first slot still to come: 3 days from now
    ]
    await delivered(bot, "channel_message", 2)
    announced = [o for o in harness.standin.outputs if o.kind == "message" and o.message.embeds]
    assert sum(1 for o in announced if o.message.embeds[0]["title"] == "Game night") == 2


async def mirrored(harness, predicate, timeout: float = 8.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [e for e in harness.standin.guild.scheduled_events.values() if predicate(e)]
        if found:
            return found
        assert loop.time() < deadline, "not mirrored"
        await asyncio.sleep(0.1)


async def test_events_are_mirrored_as_discord_scheduled_events_through_their_life(harness):
    bot = await start(harness, reminders=[], default_length="3s")
    mod = harness.member("mod")
    await create(mod, start=timedelta(seconds=7), end=None, voice_channel=harness.demo.voice)
    event = await the_event(bot)
    [scheduled] = await mirrored(harness, lambda e: e.name == "Game night")
    assert scheduled.channel_id == harness.demo.voice.id and f"[conclave:{event['id']}]" in scheduled.description
    for _ in range(50):  # stored right after Discord answered
        if await bot.pool.fetchval("SELECT discord_event_id FROM events") == scheduled.id:
            break
        await asyncio.sleep(0.1)
    assert await bot.pool.fetchval("SELECT discord_event_id FROM events") == scheduled.id
    await mirrored(harness, lambda e: e.status == 2, timeout=12)  # started with the event
    await mirrored(harness, lambda e: e.status == 3, timeout=12)  # completed with it
    assert len(harness.standin.guild.scheduled_events) == 1


async def test_the_mirror_follows_edits_and_cancellation_and_adopts_rather_than_duplicates(harness):
    bot = await start(harness)
    mod = harness.member("mod")
    await create(mod)
    event_id = (await the_event(bot))["id"]
    [scheduled] = await mirrored(harness, lambda e: e.name == "Game night")
    await mod.slash("event edit", event=event_id, title="Board game night")
    await mirrored(harness, lambda e: e.name == "Board game night")
    # The id is lost (e.g. a crash right after Discord created it): the next pass adopts it by its marker.
    await bot.pool.execute("UPDATE events SET discord_event_id = NULL")
    await bot.doors.events_mirror.reconcile()
    assert len(harness.standin.guild.scheduled_events) == 1
    assert await bot.pool.fetchval("SELECT discord_event_id FROM events") == scheduled.id
    # A row the website writes is mirrored at the next pass.
    await bot.pool.execute(
        "INSERT INTO events (title, type, start_date, status) VALUES ('Web night', 'community', NOW() + interval '3 days', 'upcoming')"
    )
    await bot.doors.events_mirror.reconcile()
    assert {e.name for e in harness.standin.guild.scheduled_events.values()} == {"Board game night", "Web night"}
    await mod.slash("event cancel", event=event_id, reason="rain")
    await mirrored(harness, lambda e: e.name == "Board game night" and e.status == 4)


async def test_members_interested_in_discord_are_offered_registration_by_dm(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await create(mod, places="3")
    [scheduled] = await mirrored(harness, lambda e: e.name == "Game night")
    harness.standin.mark_interested(scheduled.id, alice.id)
    await delivered(bot, "dm")
    offer = await harness.standin.wait_for(
        lambda o: o.kind == "dm" and o.message.embeds[0]["title"] == "Join Game night?", past=True
    )
    assert offer.data["recipient_id"] == alice.id
    joined = await alice.click(offer.message, "Register")  # from the DM
    assert joined.content.startswith("You are registered for **Game night**")
    harness.standin.mark_interested(scheduled.id, alice.id)  # registered now: no second offer
    await asyncio.sleep(0.5)
    offers = [o for o in harness.standin.outputs if o.kind == "dm" and o.message.embeds[0]["title"].startswith("Join")]
    assert len(offers) == 1

"""Server statistics end to end: server_stats and its daily history against counts from the tables,
analytics rows from what members do, /stats server | pathway | me with a chart."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import discord
from PIL import Image

from cogs.stats import refresh
from db import stats, xp
from tests.factories import make_member
from tests.xp_support import XP_COGS, handled, start

STATS_COGS = [*XP_COGS, "cogs.stats"]


async def _analytics(bot, event_type: str) -> list:
    await bot.flush_all()
    return await bot.pool.fetch(
        """SELECT a.event_type, a.event_label, a.pathway, a.event_value, u.discord_id FROM analytics a
           LEFT JOIN users u ON u.id = a.user_id WHERE a.event_type = $1 ORDER BY a.timestamp""",
        event_type,
    )


async def _wait_for_rows(bot, event_type: str, count: int) -> list:
    for _ in range(100):
        rows = await _analytics(bot, event_type)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} {event_type} analytics row(s), expected {count}")


def _png(reply) -> Image.Image:
    assert [a.filename for a in reply.attachments] == ["stats.png"]
    assert reply.embed["image"]["url"] == "attachment://stats.png"
    image = Image.open(io.BytesIO(reply.attachments[0].data))
    assert image.format == "PNG" and image.width >= 600 and image.height >= 200
    return image


def _field(embed: dict, name: str) -> str:
    return next(f["value"] for f in embed["fields"] if f["name"] == name)


async def test_server_stats_match_the_tables_and_stats_server_draws_a_chart(harness):
    bot = await start(harness, cogs=STATS_COGS)
    alice, bob = harness.member("alice"), harness.member("bob")
    await alice.slash("pathway join", pathway="gaming")
    await bob.slash("pathway join", pathway="lorebound")
    for i in range(6):
        alice.say(f"hello {i}", channel=harness.demo.pathway_channels["gaming"])
    bob.say("hi")
    await handled(bot, 7)
    harness.demo.new_member("dave")  # joins while the bot watches
    await _wait_for_rows(bot, "member_join", 1)

    async with bot.pool.acquire() as conn:
        snapshot = await refresh(bot, conn)
    expected_members = await bot.pool.fetchval("SELECT count(*) FROM users WHERE in_server")
    row = await bot.pool.fetchrow("SELECT * FROM server_stats WHERE id = 1")
    assert row["member_count"] == snapshot.member_count == expected_members
    assert row["pathway_stats"] == {"gaming": 1, "lorebound": 1, "productive": 0, "news": 0}
    assert row["boost_count"] == bot.home_guild.premium_subscription_count
    assert row["online_count"] == 0  # presences are not tracked by default
    day = await bot.pool.fetchrow("SELECT * FROM server_stats_daily ORDER BY day DESC LIMIT 1")
    assert day["messages"] == await bot.pool.fetchval("SELECT sum(message_count) FROM user_profiles") == 7
    assert (
        day["xp"]["total"] == await bot.pool.fetchval("SELECT sum(amount) FROM xp_ledger") == 120
    )  # bob's "hi" is too short for XP
    assert day["xp"]["gaming"] == await bot.pool.fetchval("SELECT sum(amount) FROM xp_ledger WHERE pathway = 'gaming'")
    assert day["joins"] == 1 and day["leaves"] == 0
    active = await bot.pool.fetchval(
        """SELECT count(*) FROM users u JOIN user_profiles up ON up.user_id = u.id
           WHERE u.in_server AND up.message_count > 0"""
    )
    assert day["active_members"] == active == 2  # who chatted (everyone else only has a row)
    assert day["online_count"] is None

    reply = await alice.slash("stats server", period="7d", timeout=15)
    embed = reply.embed
    assert not reply.ephemeral
    assert _field(embed, "Members").startswith(f"{expected_members} ")
    assert _field(embed, "Today") == "7 messages · 0 voice minutes"
    assert "Gaming Realm 1" in _field(embed, "Pathway members")
    assert "120 XP" in _field(embed, "In the period") and "1 joined, 0 left" in _field(embed, "In the period")
    assert "/pathway join 2" in _field(embed, "Most used commands")
    assert _field(embed, "Online") == "not tracked (presences intent off)"
    _png(reply)


async def test_a_member_who_leaves_and_the_days_history_are_counted(harness):
    bot = await start(harness, cogs=STATS_COGS)
    carol = harness.member("carol")
    carol.say("bye all")
    await handled(bot, 1)
    harness.standin.remove_member(carol.id)
    await _wait_for_rows(bot, "member_leave", 1)
    # Two earlier days, as the refreshes of those days left them.
    today = await bot.pool.fetchval("SELECT max(day) FROM server_stats_daily")
    for back, members in ((3, 3), (2, 4)):  # (yesterday's XP is recomputed from the ledger)
        await bot.pool.execute(
            """INSERT INTO server_stats_daily (day, member_count, messages, xp) VALUES ($1, $2, 10, '{"total": 50}')
               ON CONFLICT (day) DO NOTHING""",
            today - timedelta(days=back),
            members,
        )
    async with bot.pool.acquire() as conn:
        snapshot = await refresh(bot, conn)
    assert snapshot.leaves == 1
    assert snapshot.member_count == await bot.pool.fetchval("SELECT count(*) FROM users WHERE in_server")
    reply = await harness.member("alice").slash("stats server", period="30d", timeout=15)
    assert "21 messages" in _field(reply.embed, "In the period")  # 10 + 10 + carol's 1
    assert "0 joined, 1 left" in _field(reply.embed, "In the period")
    _png(reply)


async def test_stats_pathway_and_stats_me(harness):
    bot = await start(harness, cogs=STATS_COGS)
    alice, bob = harness.member("alice"), harness.member("bob")
    await alice.slash("pathway join", pathway="gaming")
    await bob.slash("pathway join", pathway="gaming")
    for i in range(5):
        alice.say(f"gg {i}", channel=harness.demo.pathway_channels["gaming"])
    bob.say("good game", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 6)
    await bot.maintenance.run("pathway_stats_cache:refresh")

    reply = await bob.slash("stats pathway", name="gaming", timeout=15)
    embed = reply.embed
    assert _field(embed, "Members") == "2" and _field(embed, "With XP in it") == "2"
    assert _field(embed, "Total XP") == "120"
    leaders = _field(embed, "Leaders").splitlines()
    assert leaders[0] == f"1. <@{alice.id}> · level 2 · 100 XP" and leaders[1].startswith(f"2. <@{bob.id}>")
    _png(reply)

    mine = await alice.slash("stats me", period="7d", timeout=15)
    assert mine.ephemeral
    profile = await bot.pool.fetchrow(
        """SELECT up.level, up.total_xp, up.message_count FROM user_profiles up JOIN users u ON u.id = up.user_id
           WHERE u.discord_id = $1""",
        alice.id,
    )
    assert _field(mine.embed, "Level") == f"{profile['level']} ({profile['total_xp']} XP)" == "2 (100 XP)"
    assert _field(mine.embed, "Messages") == str(profile["message_count"]) == "5"
    assert _field(mine.embed, "Rank") == "#1" and _field(mine.embed, "XP in the period") == "100"
    _png(mine)
    newcomer = harness.demo.new_member("erin")
    await asyncio.sleep(0.2)
    fresh = await newcomer.slash("stats me", timeout=15)
    assert fresh.ephemeral and _field(fresh.embed, "Level") == "1 (0 XP)"
    assert _field(fresh.embed, "Rank") == "not ranked yet"


async def test_analytics_rows_for_what_members_do_are_written_in_batches(harness):
    bot = await start(harness, cogs=STATS_COGS)
    alice = harness.member("alice")
    # The command's row waits in memory for the next flush: nothing was written on its way. (No
    # flush may run meanwhile: the analytics flush's 10 s period could end just after the row is
    # recorded and take it before it is seen here, as it did on a loaded machine.)
    async with bot.flush_schedule.lock:
        await alice.slash("pathway join", pathway="news")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5  # the completion listener records it after the reply
        while not len(bot.analytics) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert len(bot.analytics) == 1
        assert await bot.pool.fetchval("SELECT count(*) FROM analytics WHERE event_type = 'command_used'") == 0
    for i in range(5):
        alice.say(f"news {i}", channel=harness.demo.pathway_channels["news"])
    await handled(bot, 5)
    joins = await _analytics(bot, "pathway_join")
    assert [(r["discord_id"], r["pathway"]) for r in joins] == [(alice.id, "news")]
    levels = await _analytics(bot, "level_up")
    assert sorted((r["pathway"] or "", int(r["event_value"])) for r in levels) == [("", 2), ("news", 2)]
    assert all(r["discord_id"] == alice.id for r in levels)
    commands = await _analytics(bot, "command_used")
    assert [(r["discord_id"], r["event_label"]) for r in commands] == [(alice.id, "pathway join")]
    assert len(bot.analytics) == 0 and bot.analytics.written == 3  # two level-ups and the command
    # A staff member's XP change that crosses a level is a level-up too.
    await harness.member("mod").slash("xp give", member=alice, amount=300, reason="event prize")
    staff_levels = await _wait_for_rows(bot, "level_up", 3)
    assert (staff_levels[-1]["discord_id"], int(staff_levels[-1]["event_value"])) == (alice.id, 3)


async def test_analytics_retention_keeps_recent_rows(harness):
    bot = await start(harness, cogs=STATS_COGS)
    old = datetime.now(UTC) - timedelta(days=400)
    await bot.pool.execute(
        """INSERT INTO analytics (event_type, timestamp) SELECT 'command_used', $1 FROM generate_series(1, 25)""", old
    )
    await bot.pool.execute("INSERT INTO analytics (event_type) VALUES ('command_used')")
    detail = await bot.maintenance.run("analytics:retention")
    assert detail == "25 analytics row(s) older than 365 days deleted"
    assert await bot.pool.fetchval("SELECT count(*) FROM analytics") == 1


async def test_online_members_are_counted_with_the_presences_intent(harness):
    standin = harness.standin
    alice, bob, carol = harness.member("alice"), harness.member("bob"), harness.member("carol")
    standin.guild.members[alice.id].status = "online"  # online before the bot connects
    standin.guild.members[standin.bot_user.id].status = "online"  # bots are not counted
    bot = await start(harness, cogs=STATS_COGS, community={"presences_intent": True})

    async def becomes(who, status: str) -> None:
        standin.set_status(who.id, status)
        for _ in range(200):
            if bot.home_guild.get_member(int(who.id)).status is discord.Status(status):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{who.member.user.username} never became {status}")

    assert bot.home_guild.get_member(int(alice.id)).status is discord.Status.online  # from GUILD_CREATE
    await becomes(bob, "idle")
    await becomes(carol, "dnd")
    await becomes(carol, "offline")
    async with bot.pool.acquire() as conn:
        snapshot = await refresh(bot, conn)
    assert snapshot.online_count == 2  # alice (online) and bob (idle)
    assert await bot.pool.fetchval("SELECT online_count FROM server_stats") == 2
    assert await bot.pool.fetchval("SELECT online_count FROM server_stats_daily ORDER BY day DESC LIMIT 1") == 2
    reply = await alice.slash("stats server", period="7d", timeout=15)
    assert _field(reply.embed, "Online") == "2"


async def test_a_chart_that_cannot_be_drawn_leaves_the_figures(harness, monkeypatch):
    from bot.ui import charts

    await start(harness, cogs=STATS_COGS)

    def broken(*args):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(charts, "server_chart", broken)
    reply = await harness.member("alice").slash("stats server", timeout=15)
    assert not reply.attachments and "image" not in reply.embed
    assert reply.embed["footer"]["text"] == "The chart could not be drawn this time."
    assert _field(reply.embed, "Online") == "not tracked (presences intent off)"


async def test_rows_that_arrive_late_for_yesterday_still_count(harness):
    bot = await start(harness, cogs=STATS_COGS)
    today = await bot.pool.fetchval("SELECT (NOW() AT TIME ZONE community_timezone())::date")
    yesterday_evening = await bot.pool.fetchval(
        "SELECT (($1::date - 1)::timestamp + INTERVAL '23 hours 59 minutes') AT TIME ZONE community_timezone()", today
    )
    # A join just before midnight, written (by the analytics flush) after the first refresh of the day.
    await bot.pool.execute(
        "UPDATE server_stats_daily SET updated_at = NOW() - INTERVAL '1 day' WHERE day = $1::date - 1", today
    )
    await bot.pool.execute(
        "INSERT INTO analytics (event_type, timestamp) VALUES ('member_join', $1)", yesterday_evening
    )
    async with bot.pool.acquire() as conn:
        await refresh(bot, conn)
    assert await bot.pool.fetchval("SELECT joins FROM server_stats_daily WHERE day = $1::date - 1", today) == 1


async def test_a_daylight_saving_day_counts_each_hour_once(conn):
    """Daily figures run midnight to midnight in the community's timezone: 23 hours on the day
    clocks go forward, 25 on the day they go back; nothing is counted twice or lost."""
    await xp.sync_timezone(conn, "America/New_York")
    alice = await make_member(conn, "alice")
    new_york = ZoneInfo("America/New_York")
    moments = [  # local times in New York, either side of both changes of 2026
        datetime(2026, 3, 7, 23, 30, tzinfo=new_york),
        datetime(2026, 3, 8, 0, 30, tzinfo=new_york),  # 05:30 UTC
        datetime(2026, 3, 8, 23, 30, tzinfo=new_york),  # 03:30 UTC the next day (clocks went forward)
        datetime(2026, 3, 9, 0, 30, tzinfo=new_york),  # 04:30 UTC: a 24-hour day from 05:00 would take it
        datetime(2026, 10, 31, 23, 30, tzinfo=new_york),
        datetime(2026, 11, 1, 0, 30, tzinfo=new_york),  # 04:30 UTC
        datetime(2026, 11, 1, 23, 30, tzinfo=new_york),  # 04:30 UTC the next day (clocks went back)
        datetime(2026, 11, 2, 0, 30, tzinfo=new_york),  # 05:30 UTC
    ]
    for i, moment in enumerate(moments):
        await conn.execute(
            """INSERT INTO xp_ledger (user_id, source, source_ref, amount, created_at)
               VALUES ($1, 'manual', $2, $3, $4)""",
            alice,
            f"dst-{i}",
            10**i,  # each row its own digit: a row counted twice or lost shows in the sum
            moment,
        )
        await conn.execute(
            "INSERT INTO analytics (event_type, user_id, timestamp) VALUES ('member_join', $1, $2)", alice, moment
        )
    expected = {}
    for i, moment in enumerate(moments):
        day = moment.date()
        expected[day] = expected.get(day, 0) + 10**i
    counted = {}
    for day in sorted(expected):
        xp_day, joins, leaves = await stats.day_figures(conn, day)
        counted[day] = xp_day["total"]
        assert joins == sum(1 for m in moments if m.date() == day) and leaves == 0, day
    assert counted == expected


async def _received(bot, count: int) -> None:
    """The bot has handled `count` messages (decided in memory, not written yet)."""
    for _ in range(500):
        if bot.chat_activity.received >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the bot handled {bot.chat_activity.received} of {count} messages")


async def test_stats_right_after_activity_agree_with_the_members_profile(harness):
    # Nothing is written by the clock during the test (a flush a minute): what /stats shows right
    # after the messages must be what /profile shows, not the start-up refresh.
    bot = await start(harness, cogs=STATS_COGS, flush_interval_seconds=60, community={"activity_flush_seconds": 300})
    alice = harness.member("alice")
    await alice.slash("pathway join", pathway="gaming")
    alice.say("good game everyone", channel=harness.demo.pathway_channels["gaming"])
    alice.say("that was close", channel=harness.demo.pathway_channels["gaming"])
    await _received(bot, 2)

    server = await alice.slash("stats server", period="30d", timeout=15)
    profile = await alice.slash("profile")
    xp = int(_field(profile.embed, "XP").split()[0].replace(",", ""))
    assert xp == 40 and _field(profile.embed, "Messages") == "2"
    assert f"· {xp} XP ·" in _field(server.embed, "In the period")
    assert _field(server.embed, "Today") == "2 messages · 0 voice minutes"
    assert "Gaming Realm 1" in _field(server.embed, "Pathway members")

    pathway = await alice.slash("stats pathway", name="gaming", timeout=15)
    assert _field(pathway.embed, "Members") == "1" and _field(pathway.embed, "With XP in it") == "1"
    assert _field(pathway.embed, "Total XP") == _field(pathway.embed, "XP in the period") == "40"
    # How old the figures are is said plainly, in the reader's time; no footer left hanging.
    for reply in (server, pathway):
        assert reply.embed["description"].startswith("Figures as of <t:")
        assert "footer" not in reply.embed and "timestamp" not in reply.embed


async def test_stats_asked_twice_in_a_row_is_computed_once_and_new_messages_show_after_the_ttl(harness):
    bot = await start(harness, cogs=STATS_COGS)
    alice = harness.member("alice")
    await alice.slash("pathway join", pathway="gaming")
    alice.say("good game everyone", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 1)
    cog = bot.get_cog("StatsCommands")
    refreshed = "SELECT updated_at FROM server_stats WHERE id = 1"

    first = await alice.slash("stats server", period="7d", timeout=15)
    as_of = await bot.pool.fetchval(refreshed)
    second = await alice.slash("stats server", period="7d", timeout=15)
    assert cog.answers.computed == 1  # one refresh, one read, one chart for both
    assert await bot.pool.fetchval(refreshed) == as_of
    assert second.embed == first.embed and second.attachments[0].data == first.attachments[0].data
    assert second.embed["description"].startswith("Figures as of <t:")  # it says how old it is
    assert _field(second.embed, "Today") == "1 messages · 0 voice minutes"
    # Another period or a pathway is its own answer.
    await alice.slash("stats server", period="30d", timeout=15)
    await alice.slash("stats pathway", name="gaming", period="7d", timeout=15)
    await alice.slash("stats pathway", name="gaming", period="7d", timeout=15)
    assert cog.answers.computed == 3 and len(cog.answers) == 3

    alice.say("that was close", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 2)
    cog.answers.ttl_s = 0.2  # (30 s in production)
    await asyncio.sleep(0.3)
    third = await alice.slash("stats server", period="7d", timeout=15)
    assert cog.answers.computed == 4
    assert _field(third.embed, "Today") == "2 messages · 0 voice minutes"
    assert await bot.pool.fetchval(refreshed) > as_of


def test_kept_stats_answers_are_bounded_oldest_first():
    from cogs.stats.cache import Answer, AnswerCache

    answers = AnswerCache(ttl_s=60, max_entries=3)
    for period in ("7d", "30d", "90d", "365d"):
        answers.put((1, "server", period), Answer({"title": period}, b"png"))
    assert len(answers) == 3 and answers.get((1, "server", "7d")) is None
    assert answers.get((1, "server", "365d")).embed == {"title": "365d"}


async def _just_before_midnight(bot) -> tuple:
    """(yesterday, 23:59:30 yesterday) in the community's time zone."""
    row = await bot.pool.fetchrow(
        """SELECT (NOW() AT TIME ZONE community_timezone())::date - 1 AS yesterday,
                  (date_trunc('day', NOW() AT TIME ZONE community_timezone()) - INTERVAL '30 seconds')
                      AT TIME ZONE community_timezone() AS late"""
    )
    return row["yesterday"], row["late"]


DAILY_ACTIVITY = "SELECT day, messages, voice_minutes FROM server_stats_daily WHERE messages > 0 OR voice_minutes > 0"


async def test_messages_and_voice_minutes_count_on_the_day_they_happened_not_the_day_they_are_written(harness):
    bot = await start(harness, timezone="America/New_York")
    alice, bob = harness.member("alice"), harness.member("bob")
    yesterday, late = await _just_before_midnight(bot)
    alice.say("good night", sent_at=late)  # 23:59:30 in New York, written by a flush after midnight
    await handled(bot, 1)
    alice.join_voice(harness.demo.voice)
    bob.join_voice(harness.demo.voice)
    bob.say("marker")
    await handled(bot, 2)
    bot.doors.xp.engine.voice_tick(elapsed=61, at=late)  # a voice minute each, ending at 23:59:30
    await bot.flush_all()
    today = yesterday + timedelta(days=1)
    rows = {r["day"]: (r["messages"], r["voice_minutes"]) for r in await bot.pool.fetch(DAILY_ACTIVITY)}
    assert rows == {yesterday: (1, 2), today: (1, 0)}


async def test_chat_counts_written_without_xp_count_on_the_day_they_were_sent(harness):
    demo = harness.demo
    harness.community = demo.community_config(cogs=["cogs.core"])
    bot = await harness.start_bot()
    alice = harness.member("alice")
    yesterday, late = await _just_before_midnight(bot)
    alice.say("still up", sent_at=late)
    alice.say("and now", sent_at=late + timedelta(seconds=40))  # past midnight
    for _ in range(200):
        if bot.chat_activity.received >= 2:
            break
        await asyncio.sleep(0.02)
    await bot.flush_all()
    rows = {r["day"]: r["messages"] for r in await bot.pool.fetch(DAILY_ACTIVITY)}
    assert rows == {yesterday: 1, yesterday + timedelta(days=1): 1}

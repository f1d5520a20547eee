"""Achievements end to end: the real client through the stand-in, real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import asyncpg

from bot.core.community import AchievementsConfig, XPConfig
from bot.core.config import load_achievement_catalog
from bot.rules import achievements as rules
from db import achievement_backfill, achievements
from tests.factories import make_member
from tests.test_e2e_moderation import delivered
from tests.xp_support import handled, ledger_rows, total_xp

CATALOG = """
[[achievement]]
id = "first-words"
name = "First Words"
description = "Say three things."
category = "milestone"
xp = 100
reward_role_id = {role}
requirements = {{ type = "messages", amount = 3 }}

[[achievement]]
id = "ten-messages"
name = "Ten Messages"
category = "milestone"
rarity = "uncommon"
xp = 50
requirements = {{ type = "messages", amount = 10 }}

[[achievement]]
id = "secret-handshake"
name = "Secret Handshake"
hidden = true
xp = 10
requirements = {{ type = "messages", amount = 5 }}
{extra}
"""


async def start(harness, tmp_path: Path, *, extra: str = "", cogs: list[str] | None = None):
    """The bot with XP (20 a message, no cooldown), moderation and achievements from a catalog file."""
    demo = harness.demo
    reward = harness.standin.add_role("Speaker", position=3) if not hasattr(harness, "reward") else harness.reward
    harness.reward = reward
    announce = harness.standin.channels_named("achievements") if hasattr(harness.standin, "channels_named") else None
    channel = announce or demo.general
    path = tmp_path / "achievements.toml"
    path.write_text(CATALOG.format(role=reward.id, extra=extra), encoding="utf-8")
    community = demo.community_config(
        xp=XPConfig(message_min=20, message_max=20, cooldown_seconds=0),
        achievements=AchievementsConfig(catalog=path, announce_channel_id=int(channel.id)),
        cogs=cogs or ["cogs.core", "cogs.xp", "cogs.moderation", "cogs.achievements"],
    )
    load_achievement_catalog(community, tmp_path)
    harness.community = community
    return await harness.start_bot()


async def user_id_of(bot, actor) -> str:
    return await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", actor.id)


async def test_chat_unlocks_an_achievement_once_with_its_xp_its_effects_and_the_boards(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice, bob = harness.member("alice"), harness.member("bob")
    for i in range(3):
        alice.say(f"line {i}")
    bob.say("hello")
    await handled(bot, 4)
    await bot.flush_all()  # the XP flush, then the evaluation it asked for
    alice_id = await user_id_of(bot, alice)
    held = await achievements.holdings(bot.pool, alice_id)
    assert held["first-words"].progress == 100 and held["first-words"].earned_at is not None
    assert held["ten-messages"].progress == 30 and held["ten-messages"].earned_at is None  # in progress
    assert held["secret-handshake"].progress == 60
    rows = await ledger_rows(bot.pool, alice.id)
    assert [(r["source"], r["source_ref"], r["amount"]) for r in rows if r["source"] == "achievement"] == [
        ("achievement", "first-words", 100)
    ]
    assert await total_xp(bot.pool, alice.id) == 3 * 20 + 100 == sum(r["amount"] for r in rows)
    first = await achievements.get(bot.pool, "first-words")
    assert (first.total_earned, first.first_earned_by) == (1, alice_id)
    week = await bot.pool.fetchval(
        "SELECT xp FROM xp_period_totals WHERE period = 'week' AND pathway = '' AND user_id = $1", alice_id
    )
    assert week == 160
    assert bot.doors.xp.engine.rankings.position(("all", None, ""), 160) == 1  # the rank index moved with it
    note = await bot.pool.fetchrow(
        "SELECT * FROM notifications WHERE user_id = $1 AND metadata ? 'achievement_id'", alice_id
    )
    assert (note["title"], note["type"], note["action_url"]) == (
        "Achievement unlocked: First Words",
        "success",
        "/achievements/first-words",
    )
    assert note["metadata"]["achievement_id"] == "first-words"
    await delivered(bot, "add_role")
    assert harness.reward.id in harness.standin.guild.members[alice.id].roles
    await delivered(bot, "channel_message")
    shout = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.embeds and "First Words" in o.message.embeds[0]["title"],
        past=True,
    )
    assert (
        shout.message.content == f"<@{alice.id}>"
        and "unlocked **First Words**" in shout.message.embeds[0]["description"]
    )
    alice.say("one more")  # more chat: evaluated again, awarded nothing twice
    await handled(bot, 5)
    await bot.flush_all()
    assert (await achievements.get(bot.pool, "first-words")).total_earned == 1
    rows = await ledger_rows(bot.pool, alice.id)
    assert [r["source_ref"] for r in rows if r["source"] == "achievement"] == ["first-words"]
    profile = await bot.pool.fetchval("SELECT achievements FROM user_profiles WHERE user_id = $1", alice_id)
    assert profile == ["first-words"]


async def test_an_award_racing_the_websites_award_happens_once(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice = harness.member("alice")
    for i in range(3):
        alice.say(f"line {i}")
    await handled(bot, 3)
    alice_id = await user_id_of(bot, alice)
    # The website adds an achievement alice already qualifies for; the bot has not evaluated it yet.
    await bot.pool.execute(
        """INSERT INTO achievements (id, name, xp, requirements)
           VALUES ('chatty', 'Chatty', 40, '{"type": "messages", "amount": 3}')"""
    )
    engine = bot.doors.achievements
    await engine.load()
    known = engine.known["chatty"].achievement
    outcomes = await asyncio.gather(
        engine.award(known, [alice_id]),
        engine.evaluate([alice_id]),
        *(achievements.award_achievement(bot.pool, alice_id, "chatty") for _ in range(4)),
        engine.award(known, [alice_id]),
    )
    bot_awards = len(outcomes[0]) + len(outcomes[1].awarded.get("chatty", [])) + len(outcomes[-1])
    website_awards = sum(1 for o in outcomes[2:-1] if o is True)
    assert bot_awards + website_awards == 1
    rows = await ledger_rows(bot.pool, alice.id)
    assert sorted(r["source_ref"] for r in rows if r["source"] == "achievement") == ["chatty", "first-words"]
    assert await total_xp(bot.pool, alice.id) == sum(r["amount"] for r in rows) == 60 + 100 + 40
    chatty = await achievements.get(bot.pool, "chatty")
    assert (chatty.total_earned, chatty.first_earned_by) == (1, alice_id)


async def test_the_bots_award_and_the_websites_take_the_achievements_row_in_one_order(harness, tmp_path):
    """award_achievement() locks the achievement's row, then writes the member's award row. The
    bot's claim used to write the award row first and reach the achievement's row only through the
    foreign key's check: with the website's call between the two, each waited for the other and
    PostgreSQL refused one as a deadlock. The website's call is split here at its first statement to
    put it in that window every time."""
    bot = await start(harness, tmp_path)
    alice = harness.member("alice")
    alice.say("hello")
    await handled(bot, 1)
    alice_id = await user_id_of(bot, alice)
    await bot.pool.execute(
        """INSERT INTO achievements (id, name, xp, requirements)
           VALUES ('chatty', 'Chatty', 40, '{"type": "messages", "amount": 1}')"""
    )

    async def bots_claim() -> list:
        async with bot.pool.acquire() as conn, conn.transaction():
            claimed = await achievements.claim_awards(conn, "chatty", [alice_id])
            await achievements.count_awards(conn, "chatty", claimed)
            return claimed

    async with bot.pool.acquire() as website, website.transaction():
        await website.execute("SELECT 1 FROM achievements WHERE id = 'chatty' FOR UPDATE")
        claim = asyncio.create_task(bots_claim())
        for _ in range(200):
            waiting = await bot.pool.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'"""
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting == 1  # the bot's claim waits for the website's transaction
        assert await website.fetchval("SELECT award_achievement($1, 'chatty')", alice_id) is True
    assert await claim == []  # it found the award made, and made none
    chatty = await achievements.get(bot.pool, "chatty")
    assert (chatty.total_earned, chatty.first_earned_by) == (1, alice_id)


async def test_hidden_ones_are_counted_not_named_until_earned_and_pages_turn(harness, tmp_path):
    extra = "".join(
        f'\n[[achievement]]\nid = "step-{i}"\nname = "Step {i}"\ncategory = "seasonal"\n'
        f'requirements = {{ type = "xp", amount = {1000 * (i + 1)} }}\n'
        for i in range(8)
    )
    bot = await start(harness, tmp_path, extra=extra)
    alice = harness.member("alice")
    first = await alice.slash("achievements")
    text = first.embed["description"]
    visible = await bot.pool.fetchval("SELECT count(*) FROM achievements WHERE is_active AND NOT hidden")
    pages = -(-visible // 8)
    assert "Secret Handshake" not in text and first.embed["footer"]["text"] == (
        f"0 of {visible + 1} earned · page 1/{pages}"
    )
    assert "% of members" in text  # live rarity beside the tier
    page = first
    for _ in range(pages - 1):
        page = await alice.click(page, "Next ▶")
    assert page.embed["description"].splitlines()[-1] == "??? (1 hidden)"
    assert "Secret Handshake" not in page.embed["description"]
    seasonal = await alice.slash("achievements", category="seasonal")
    assert seasonal.embed["description"].count("Step") == 8 and "??? " not in seasonal.embed["description"]
    for i in range(5):
        alice.say(f"line {i}")
    await handled(bot, 5)
    await bot.flush_all()
    after = await alice.slash("achievements")
    lines = after.embed["description"].splitlines()
    assert lines[0].startswith("🏆 ") and any("Secret Handshake" in line for line in lines[:3])
    assert "??? " not in "\n".join(lines)
    progress_line = next(line for line in lines if "Ten Messages" in line)
    assert "50% (5/10)" in progress_line and "Uncommon" in progress_line


async def test_showcase_limit_profile_and_rank_card(harness, tmp_path):
    extra = "".join(
        f'\n[[achievement]]\nid = "easy-{i}"\nname = "Easy {i}"\nrequirements = {{ type = "messages", amount = 1 }}\n'
        for i in range(3)
    )
    bot = await start(harness, tmp_path, extra=extra)
    alice = harness.member("alice")
    for i in range(3):
        alice.say(f"line {i}")
    await handled(bot, 3)
    await bot.flush_all()
    for name in ("easy-0", "Easy 1", "first-words"):
        reply = await alice.slash("achievement showcase add", name=name)
        assert reply.ephemeral and "is now shown on your profile" in reply.content
    full = await alice.slash("achievement showcase add", name="easy-2")
    assert full.content.startswith("You already show 3 achievements")
    not_mine = await alice.slash("achievement showcase add", name="Ten Messages")
    assert not_mine.content == "You haven't earned **Ten Messages** yet."
    hidden = await alice.slash("achievement showcase add", name="Secret Handshake")
    assert hidden.content == "There is no achievement called 'Secret Handshake'."  # not earned: not revealed
    await alice.slash("achievement showcase remove", name="Easy 1")
    assert (await alice.slash("achievement showcase add", name="easy-2")).content.startswith("**Easy 2** is now")
    profile = await alice.slash("profile")
    fields = {f["name"]: f["value"] for f in profile.embed["fields"]}
    assert set(fields["Showcase"].split(" · ")) == {"🏆 Easy 0", "🏆 First Words", "🏆 Easy 2"}
    unread = await bot.pool.fetchval("SELECT count(*) FROM notifications WHERE NOT read")
    assert unread == 5 and fields["Notifications"] == "5 unread (/notifications)"  # 4 unlocks and a level-up
    card = await alice.slash("rank")
    shown = card.content.split(" · showcase: ")[1]
    assert set(shown.split(", ")) == {"Easy 0", "First Words", "Easy 2"} and card.attachments


async def test_staff_grant_and_revoke_with_the_xp_and_admin_logs(harness, tmp_path):
    bot = await start(harness, tmp_path)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    refused = await alice.slash("achievement grant", member=bob, name="ten-messages", reason="because")
    assert refused.content == "Only staff can grant or revoke achievements."
    own = await mod.slash("achievement grant", member=mod, name="ten-messages", reason="me")
    assert own.content.startswith("You can't grant or revoke your own achievements")
    granted = await mod.slash("achievement grant", member=bob, name="Ten Messages", reason="helped at the event")
    assert granted.ephemeral and granted.content == f"Granted **Ten Messages** to <@{bob.id}> (+50 XP)."
    assert await total_xp(bot.pool, bob.id) == 50
    again = await mod.slash("achievement grant", member=bob, name="ten-messages", reason="twice")
    assert again.content == "Bob already has **Ten Messages**."
    revoked = await mod.slash("achievement revoke", member=bob, name="ten-messages", reason="mistake")
    assert revoked.content == f"Revoked **Ten Messages** from <@{bob.id}> (50 XP taken back)."
    rows = await ledger_rows(bot.pool, bob.id)
    assert [(r["source"], r["amount"]) for r in rows] == [("achievement", 50), ("reversal", -50)]
    assert await total_xp(bot.pool, bob.id) == 0
    assert (await achievements.get(bot.pool, "ten-messages")).total_earned == 0
    logs = await bot.pool.fetch(
        "SELECT action, previous_value, new_value, reason FROM admin_logs WHERE target_type = 'achievement' "
        "ORDER BY created_at"
    )
    assert [(r["action"], r["reason"]) for r in logs] == [
        ("achievement_grant", "helped at the event"),
        ("achievement_revoke", "mistake"),
    ]
    assert logs[1]["previous_value"]["earned"] is True and logs[1]["new_value"] == {
        "user_id": await user_id_of(bot, bob),
        "earned": False,
        "xp_taken": 50,
    }
    # Earned again after a revoke: its XP again (the ledger numbers the repeat).
    await mod.slash("achievement grant", member=bob, name="ten-messages", reason="earned it after all")
    rows = await ledger_rows(bot.pool, bob.id)
    assert [r["source_ref"] for r in rows if r["source"] == "achievement"] == ["ten-messages", "ten-messages#2"]
    assert await total_xp(bot.pool, bob.id) == 50


async def finished(harness, reply):
    """The backfill's reply once it says it is done (it edits its reply as it goes)."""
    interaction = harness.standin.interactions[reply.interaction.id]
    await harness.standin.wait_for(
        lambda o: (
            o.interaction_id == interaction.id and o.message is not None and o.message.content.startswith("Backfilled")
        ),
        past=True,
    )
    return interaction.original


async def test_a_revoke_sticks_for_a_member_who_still_qualifies_until_staff_grant_it_again(harness, tmp_path):
    bot = await start(harness, tmp_path)
    mod, alice = harness.member("mod"), harness.member("alice")
    for i in range(3):
        alice.say(f"line {i}")
    await handled(bot, 3)
    await bot.flush_all()
    alice_id = await user_id_of(bot, alice)
    assert (await achievements.holdings(bot.pool, alice_id))["first-words"].progress == 100
    revoked = await mod.slash("achievement revoke", member=alice, name="first-words", reason="farmed it")
    assert revoked.content == f"Revoked **First Words** from <@{alice.id}> (100 XP taken back)."
    alice.say("still chatting")  # she still meets the rule: evaluated again, awarded nothing
    await handled(bot, 4)
    await bot.flush_all()
    await asyncio.sleep(1.2)  # a periodic evaluation too
    await bot.flush_all()
    assert "first-words" not in await achievements.earned_ids(bot.pool, alice_id)
    assert await bot.doors.achievements.backfill("first-words") == (0, 0)  # nor does a backfill
    assert "first-words" not in await achievements.earned_ids(bot.pool, alice_id)
    refs = [r["source_ref"] for r in await ledger_rows(bot.pool, alice.id) if r["source"] == "achievement"]
    assert refs == ["first-words"]
    assert await total_xp(bot.pool, alice.id) == 4 * 20
    row = await bot.pool.fetchrow("SELECT revoked_by, reason FROM achievement_revocations WHERE user_id = $1", alice_id)
    assert (row["revoked_by"], row["reason"]) == (await user_id_of(bot, mod), "farmed it")

    granted = await mod.slash("achievement grant", member=alice, name="first-words", reason="earned it after all")
    assert granted.content == f"Granted **First Words** to <@{alice.id}> (+100 XP)."
    assert await bot.pool.fetchval("SELECT count(*) FROM achievement_revocations") == 0
    refs = [r["source_ref"] for r in await ledger_rows(bot.pool, alice.id) if r["source"] == "achievement"]
    assert refs == ["first-words", "first-words#2"]


async def test_the_grant_autocomplete_names_hidden_achievements_to_staff_only(harness, tmp_path):
    await start(harness, tmp_path)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    staff = await mod.autocomplete("achievement grant", "name", "s", member=bob)
    assert {"Secret Handshake", "Ten Messages"} <= {c["name"] for c in staff}
    for command in ("achievement grant", "achievement revoke", "achievement backfill"):
        others = {} if command == "achievement backfill" else {"member": bob}
        offered = {c["name"] for c in await alice.autocomplete(command, "name", "s", **others)}
        assert "Ten Messages" in offered and "Secret Handshake" not in offered, command
        assert await alice.autocomplete(command, "name", "secret", **others) == [], command


async def test_backfill_awards_those_who_already_qualify_and_twice_is_harmless(harness, tmp_path):
    dormant = (
        '\n[[achievement]]\nid = "regular"\nname = "Regular"\nxp = 25\nactive = ACTIVE\n'
        'requirements = { type = "messages", amount = 2 }\n'
    )
    bot = await start(harness, tmp_path, extra=dormant.replace("ACTIVE", "false"))
    alice, bob, carol = harness.member("alice"), harness.member("bob"), harness.member("carol")
    for who in (alice, bob, alice, carol):
        who.say("talking")
    await handled(bot, 4)
    await bot.flush_all()
    await harness.stop_bot()
    bot = await start(harness, tmp_path, extra=dormant.replace("ACTIVE", "true"))  # the catalog activates it
    mod = harness.member("mod")
    reply = await mod.slash("achievement backfill", name="Regular")
    assert reply.ephemeral
    final = await finished(harness, reply)
    assert final.content == "Backfilled **Regular**: 1 member(s) awarded, 2 progress row(s) updated."
    regular = await achievements.get(bot.pool, "regular")
    assert regular.total_earned == 1 and regular.first_earned_by == await user_id_of(bot, alice)
    assert (await achievements.holdings(bot.pool, await user_id_of(bot, bob)))["regular"].progress == 50
    again = await mod.slash("achievement backfill", name="regular")
    final = await finished(harness, again)
    assert final.content == "Backfilled **Regular**: 0 member(s) awarded, 0 progress row(s) updated."
    rows = await ledger_rows(bot.pool, alice.id)
    assert [r["source_ref"] for r in rows if r["source"] == "achievement"].count("regular") == 1
    refused = await alice.slash("achievement backfill", name="regular")
    assert refused.content == "Only staff can backfill achievements."


async def start_with_a_backfill_that_outlives_its_token(harness, tmp_path):
    """The bot with "Regular" (2 messages) made active after alice qualified, and the stand-in's
    clock set to jump 16 minutes at the backfill's first progress edit."""
    dormant = (
        '\n[[achievement]]\nid = "regular"\nname = "Regular"\nxp = 25\nactive = ACTIVE\n'
        'requirements = { type = "messages", amount = 2 }\n'
    )
    bot = await start(harness, tmp_path, extra=dormant.replace("ACTIVE", "false"))
    alice = harness.member("alice")
    for _ in range(2):
        alice.say("talking")
    await handled(bot, 2)
    await bot.flush_all()
    await harness.stop_bot()
    bot = await start(harness, tmp_path, extra=dormant.replace("ACTIVE", "true"))
    standin = harness.standin

    def sixteen_minutes_pass_after_the_first_progress_edit(output):
        if output.kind == "edit" and output.interaction_id is not None and standin.clock.offset == 0:
            standin.clock.advance(16 * 60)  # the rest of the backfill runs past the token's 15 minutes

    standin.observers.append(sixteen_minutes_pass_after_the_first_progress_edit)
    return bot


async def test_a_backfill_that_outlives_the_interaction_token_reports_by_dm(harness, tmp_path):
    bot = await start_with_a_backfill_that_outlives_its_token(harness, tmp_path)
    mod, standin = harness.member("mod"), harness.standin
    reply = await mod.slash("achievement backfill", name="Regular")
    dm = standin.dm_channel_for(mod.id)
    final = "Backfilled **Regular**: 1 member(s) awarded"
    await standin.wait_for(
        lambda o: o.message is not None and o.message.channel_id == dm.id and o.message.content.startswith(final),
        past=True,
    )
    late = [m for m in standin.messages.values() if m.channel_id == dm.id]
    assert len(late) == 1 and late[0].content.endswith("so the rest of this comes here.")  # one message, edited
    original = standin.interactions[reply.interaction.id].original
    assert original.content.startswith("Backfilling **Regular**: progress computed")  # as it stood at 15 minutes
    expired = [c for c in standin.calls_to("PATCH", "/messages/@original") if c.status == 401]
    assert len(expired) == 1  # tried once, then the DM carries the rest
    assert (await achievements.get(bot.pool, "regular")).total_earned == 1


async def test_the_sql_backfill_computes_what_the_python_rules_compute(harness, tmp_path):
    bot = await start(harness, tmp_path)
    members = [harness.demo.new_member(f"m{i}") for i in range(12)]
    rng = random.Random(7)
    said = 0
    for m in members:
        for _ in range(rng.randint(1, 4)):
            m.say("hi", channel=harness.demo.pathway_channels[rng.choice(["gaming", "news"])])
            said += 1
    await handled(bot, said)
    await bot.flush_all()
    ids = [await user_id_of(bot, m) for m in members]
    await bot.pool.execute(
        "UPDATE pathway_progress SET contributions = (random() * 5)::int, streak_days = (random() * 9)::int"
    )
    plans = [
        {"type": "xp", "amount": 90, "conditions": {"messages": 3}},
        {
            "type": "any",
            "of": [{"type": "level", "amount": 2, "pathway": "gaming"}, {"type": "streak_days", "amount": 6}],
        },
        {
            "type": "all",
            "pathway": "news",
            "of": [{"type": "contributions", "amount": 4}, {"type": "xp", "amount": 50}],
        },
        {"type": "contributions", "amount": 7},
        {"type": "achievements_count", "amount": 2},
    ]
    rows = {r.user_id: r for r in await achievements.member_stats(bot.pool, ids)}
    for plan in plans:
        rule = rules.parse(plan)
        for uid in ids:
            in_python = rules.progress(rule, rows[uid])  # a StatsRow reads as MemberStats
            in_sql = await achievement_backfill.progress_in_sql(bot.pool, "no-such", rules.to_plan(rule), uid)
            assert in_python == in_sql, (plan, uid)


async def test_the_inbox_lists_unread_marks_read_and_cleanup_removes_expired(harness, tmp_path):
    extra = "".join(
        f'\n[[achievement]]\nid = "n-{i}"\nname = "N {i}"\nrequirements = {{ type = "messages", amount = 1 }}\n'
        for i in range(7)
    )
    bot = await start(harness, tmp_path, extra=extra)
    alice, bob = harness.member("alice"), harness.member("bob")
    alice.say("hello")
    bob.say("hello")
    await handled(bot, 2)
    await bot.flush_all()
    alice_id = await user_id_of(bot, alice)
    await bot.pool.execute(
        "INSERT INTO notifications (user_id, title, expires_at) VALUES ($1, 'old news', NOW() - interval '1 day')",
        alice_id,
    )
    inbox = await alice.slash("notifications")
    assert inbox.ephemeral and inbox.embed["footer"]["text"] == "7 unread"
    assert (
        inbox.embed["description"].count("Achievement unlocked") == 5 and "old news" not in inbox.embed["description"]
    )
    older = await alice.click(inbox, "Older ▶")
    assert older.embed["description"].count("Achievement unlocked") == 2
    read = await alice.click(older, "Mark these read")
    assert read.embed["footer"]["text"] == "5 unread"
    assert await bot.pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1 AND read", alice_id) == 2
    everything = await alice.click(read, "Mark all read")
    assert everything.embed["description"] == "No unread notifications."
    unread = await bot.pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT read", alice_id)
    assert unread == 0  # the expired one too (never shown; removed by the cleanup)
    bob_id = await user_id_of(bot, bob)
    assert await bot.pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1 AND read", bob_id) == 0
    removed = await bot.get_cog("Inbox").cleanup()
    assert removed == 1 and await bot.pool.fetchval("SELECT count(*) FROM notifications") == 14


async def test_rarity_counts_current_members_only(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice, bob = harness.member("alice"), harness.member("bob")
    for who in (alice, bob):
        for i in range(3):
            who.say(f"line {i}")
    await handled(bot, 6)
    await bot.flush_all()
    engine = bot.doors.achievements
    await engine.refresh_rarity()
    members = engine.members
    assert engine.holders["first-words"] == 2 and engine.rarity_percent("first-words") == 200 / members
    bob.leave_guild()
    for _ in range(300):  # until the departure is recorded (a fixed pause was flaky under load)
        await engine.refresh_rarity()
        if engine.members == members - 1:
            break
        await asyncio.sleep(0.05)
    assert engine.members == members - 1 and engine.rarity_percent("first-words") == 100 / (members - 1)
    info = await alice.slash("achievement info", name="first-words")
    fields = {f["name"]: f["value"] for f in info.embed["fields"]}
    assert fields["Rarity"] == f"Common · {100 / (members - 1):.1f}% of members"
    assert fields["First"].startswith(f"<@{alice.id}>") or fields["First"].startswith(f"<@{bob.id}>")


async def test_members_choose_dm_or_off_for_their_unlocks(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice, bob = harness.member("alice"), harness.member("bob")
    assert (await alice.slash("achievement notify", how="dm")).content == "Your unlocks will be sent to you by DM."
    await bob.slash("achievement notify", how="off")
    for who in (alice, bob):
        for i in range(3):
            who.say(f"line {i}")
    await handled(bot, 6)
    await bot.flush_all()
    await delivered(bot, "dm")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm", past=True)
    assert dm.data["recipient_id"] == alice.id and "You unlocked **First Words**" in dm.message.embeds[0]["description"]
    announced = await bot.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE kind = 'channel_message' AND payload::text LIKE '%First Words%'"
    )
    assert announced == 0
    unlocks = await bot.pool.fetchval("SELECT count(*) FROM notifications WHERE metadata ? 'achievement_id'")
    assert unlocks == 2  # both still in the inbox


async def test_catalog_sync_creates_updates_deactivates_and_never_deletes(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice = harness.member("alice")
    for i in range(3):
        alice.say(f"line {i}")
    await handled(bot, 3)
    await bot.flush_all()
    await harness.stop_bot()
    reward = harness.reward.id
    (tmp_path / "achievements.toml").write_text(
        '[[achievement]]\nid = "ten-messages"\nname = "Ten Talks"\nxp = 75\n'
        'requirements = { type = "messages", amount = 10 }\n',
        encoding="utf-8",
    )
    community = harness.community
    load_achievement_catalog(community, tmp_path)
    bot = await harness.start_bot()
    renamed = await achievements.get(bot.pool, "ten-messages")
    assert (renamed.name, renamed.xp, renamed.is_active) == ("Ten Talks", 75, True)
    dropped = await achievements.get(bot.pool, "first-words")
    assert dropped is not None and dropped.is_active is False and dropped.total_earned == 1
    assert "first-words" in await achievements.earned_ids(bot.pool, await user_id_of(bot, alice))
    assert (
        "first-words" not in bot.doors.achievements.known and "gaming-initiate" in bot.doors.achievements.known
    )  # seeds stay
    assert int(reward) not in bot.config.community.managed_role_ids()  # no longer a reward


async def test_a_refused_member_does_not_block_the_others_and_a_stop_keeps_what_is_not_evaluated(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice = harness.member("alice")
    for i in range(3):
        alice.say(f"line {i}")
    await handled(bot, 3)
    alice_id = await user_id_of(bot, alice)
    await bot.pool.execute("DELETE FROM user_achievements")
    await bot.pool.execute("UPDATE achievements SET total_earned = 0")
    ghost = await bot.pool.fetchval("INSERT INTO users (discord_id, username) VALUES ('999', 'ghost') RETURNING id")
    await bot.pool.execute("DELETE FROM users WHERE id = $1", ghost)  # erased behind the bot's back
    awarded = await bot.doors.achievements.award(
        bot.doors.achievements.known["first-words"].achievement, [ghost, alice_id]
    )
    assert awarded == [alice_id]
    engine = bot.doors.achievements
    engine.pending.clear()
    engine.touch(["user_a", "user_b"])
    said = engine.spill()
    assert said is not None and said.startswith("2 achievement evaluation(s) kept in")
    assert engine.pending == set() and engine.replay() == 2 and engine.pending == {"user_a", "user_b"}
    assert engine.journal.files() == []


async def test_a_pathway_achievement_counts_in_its_pathway_and_its_revoke_takes_it_back(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice, mod = harness.member("alice"), harness.member("mod")
    await alice.slash("pathway join", pathway="gaming")
    for i in range(5):  # 100 gaming XP: gaming level 2, the seeded "Gaming Initiate"
        alice.say(f"gg {i}", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 5)
    await bot.flush_all()
    alice_id = await user_id_of(bot, alice)
    row = await bot.pool.fetchrow(
        "SELECT pathway, amount FROM xp_ledger WHERE source = 'achievement' AND source_ref = 'gaming-initiate'"
    )
    assert (row["pathway"], row["amount"]) == ("gaming", 50)
    gaming = "SELECT total_xp FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'"
    assert await bot.pool.fetchval(gaming, alice_id) == 100 + 50
    note = await bot.pool.fetchval(
        "SELECT type FROM notifications WHERE user_id = $1 AND metadata ->> 'achievement_id' = 'gaming-initiate'",
        alice_id,
    )
    assert note == "gaming"  # the pathway's notification type
    await mod.slash("achievement revoke", member=alice, name="gaming-initiate", reason="test")
    assert await bot.pool.fetchval(gaming, alice_id) == 100
    assert await total_xp(bot.pool, alice.id) == 5 * 20 + 100 + 10  # first-words and secret-handshake stay


async def test_a_pathway_achievement_goes_only_to_members_of_its_pathway(harness, tmp_path):
    bot = await start(harness, tmp_path)
    alice, mod = harness.member("alice"), harness.member("mod")
    refused = await mod.slash("achievement grant", member=alice, name="Gaming Initiate", reason="tournament")
    assert refused.ephemeral and refused.content == (
        "Alice hasn't joined the Gaming Realm, and **Gaming Initiate** goes to its members only. "
        "They can join with /pathway join gaming; then try again."
    )
    alice_id = await user_id_of(bot, alice)
    assert await ledger_rows(bot.pool, alice.id) == []
    assert await bot.pool.fetchval("SELECT count(*) FROM user_achievements WHERE user_id = $1", alice_id) == 0
    # An award the engine makes itself (a backfill, the website's catalog) to someone outside the
    # pathway: its XP counts globally, not in a pathway they never joined (no Gaming level-up).
    known = bot.doors.achievements.known["gaming-initiate"]
    await bot.doors.achievements.award(known.achievement, [alice_id], actor_id=None, reason="backfill")
    rows = await ledger_rows(bot.pool, alice.id)
    assert [(r["source"], r["pathway"], r["amount"]) for r in rows] == [("achievement", None, 50)]
    assert (
        await bot.pool.fetchval("SELECT count(*) FROM pathway_progress WHERE user_id = $1 AND total_xp > 0", alice_id)
        == 0
    )
    # Its revoke takes back what it gave, where it gave it (globally), not the nothing she has in Gaming.
    revoked = await mod.slash("achievement revoke", member=alice, name="gaming-initiate", reason="test")
    assert revoked.content == f"Revoked **Gaming Initiate** from <@{alice.id}> (50 XP taken back)."
    rows = await ledger_rows(bot.pool, alice.id)
    assert [(r["source"], r["pathway"], r["amount"]) for r in rows][-1] == ("reversal", None, -50)
    assert await total_xp(bot.pool, alice.id) == 0

    await alice.slash("pathway join", pathway="gaming")
    granted = await mod.slash("achievement grant", member=alice, name="Gaming Initiate", reason="tournament")
    assert granted.content.startswith("Granted **Gaming Initiate**")
    assert (
        await bot.pool.fetchval(
            "SELECT total_xp FROM pathway_progress WHERE user_id = $1 AND pathway_id = 'gaming'", alice_id
        )
        == 50
    )


async def test_first_progress_row_and_the_websites_award_do_not_deadlock(pool):
    """save_progress inserts a member's first (user, achievement) row and reaches the achievement's
    row only in the foreign key's check (FOR KEY SHARE); award_achievement() holds that row FOR UPDATE
    and then writes the same award row: the same deadlock f44e9a2 fixed for claim_awards."""
    alice = await make_member(pool, "alice")
    await pool.execute(
        """INSERT INTO achievements (id, name, xp, requirements)
           VALUES ('chatty', 'Chatty', 40, '{"type": "messages", "amount": 5}')"""
    )

    async def bots_progress() -> int:
        async with pool.acquire() as conn, conn.transaction():
            return await achievements.save_progress(conn, [(alice, "chatty", 40)])

    async with pool.acquire() as website:
        tr = website.transaction()
        await tr.start()
        await website.execute("SELECT 1 FROM achievements WHERE id = 'chatty' FOR UPDATE")
        task = asyncio.create_task(bots_progress())
        for _ in range(200):
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        errors = []
        try:
            await website.fetchval("SELECT award_achievement($1, 'chatty')", alice)
        except asyncpg.DeadlockDetectedError as e:
            errors.append(("website", e))
        await tr.rollback() if errors else await tr.commit()
    try:
        await task
    except asyncpg.DeadlockDetectedError as e:
        errors.append(("bot", e))
    assert errors == []

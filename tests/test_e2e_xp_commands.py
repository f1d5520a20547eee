"""/rank, /profile, /pathway, /leaderboard and the staff /xp commands, as members use them."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from db import admin_logs
from db.pool import connect
from tests.test_e2e_core import wait_until
from tests.xp_support import handled, ledger_rows, start, total_xp


async def test_rank_card_is_an_image_with_the_members_standing(harness):
    bot = await start(harness, message_min=150, message_max=150)
    alice, bob = harness.member("alice"), harness.member("bob")
    await alice.slash("pathway join", pathway="gaming")
    alice.say("hello world", channel=harness.demo.pathway_channels["gaming"])
    bob.say("hi alice")
    bob.say("another one")
    await handled(bot, 3)
    card = await alice.slash("rank")
    assert card.content == "Alice: level 2 (Initiate), 150 XP, #2"
    image = Image.open(io.BytesIO(card.attachments[0].data))
    assert image.format == "PNG" and image.size == (760, 220)
    mine = await alice.slash("rank", pathway="gaming")
    assert mine.content == "Alice: level 2 in Gaming Realm (Initiate), 150 XP, #1"
    theirs = await alice.slash("rank", member=bob)
    assert theirs.content.startswith("Bob: level 2 (Initiate), 300 XP, #1")


async def _received(bot, count: int) -> None:
    """The bot has decided `count` messages in memory (nothing written yet)."""

    async def handled() -> bool:
        return bot.chat_activity.received >= count

    await wait_until(handled)


def _fields(reply) -> dict[str, str]:
    return {f["name"]: f["value"] for f in reply.embed["fields"]}


async def test_profile_right_after_a_message_shows_it_not_zero(harness):
    # A flush a minute: only /profile itself can have written the message's XP.
    bot = await start(harness, flush_interval_seconds=60, community={"activity_flush_seconds": 300})
    alice = harness.member("alice")
    alice.say("hello everyone")
    await _received(bot, 1)
    fields = _fields(await alice.slash("profile"))
    assert fields["XP"] == "20 (80 to level 2)" and fields["Messages"] == "1"
    alice.say("and hello again")
    await _received(bot, 2)
    card = await alice.slash("rank")
    assert card.content.startswith("Alice: level 1 (Initiate), 40 XP")


async def test_profile_says_counting_while_the_write_is_held_up(harness, db_dsn):
    bot = await start(harness, flush_interval_seconds=60, community={"activity_flush_seconds": 300})
    alice = harness.member("alice")
    alice.say("hello everyone")
    await _received(bot, 1)
    await bot.flush_all()  # her rows exist, with the first message's XP
    alice.say("and hello again")
    await _received(bot, 2)
    # Another writer holds alice's profile row: the write of her second message waits for it.
    blocker = await connect(db_dsn)
    try:
        async with blocker.transaction():
            await blocker.execute(
                """SELECT 1 FROM user_profiles up JOIN users u ON u.id = up.user_id
                   WHERE u.discord_id = $1 FOR UPDATE OF up""",
                alice.id,
            )
            held = _fields(await alice.slash("profile", timeout=10))
            assert held["XP"] == "20 (80 to level 2) · counting…"
    finally:
        await blocker.close()

    async def written() -> bool:  # the held write goes on by itself once the row is free
        return await total_xp(bot.pool, alice.id) == 40

    await wait_until(written)
    assert _fields(await alice.slash("profile"))["XP"] == "40 (60 to level 2)"


async def test_profile_shows_level_activity_and_pathways(harness):
    bot = await start(harness)
    carol = harness.member("carol")
    await carol.slash("pathway join", pathway="lorebound")
    await carol.slash("pathway join", pathway="news")
    carol.say("a tale of old", channel=harness.demo.pathway_channels["lorebound"])
    await handled(bot, 1)
    reply = await harness.member("alice").slash("profile", member=carol)
    fields = {f["name"]: f["value"] for f in reply.embed["fields"]}
    assert fields["Level"] == "1"
    assert fields["XP"] == "20 (80 to level 2)"
    assert fields["Messages"] == "1"
    assert fields["Voice"] == "0 min"
    assert "**Lorebound Realm** ★: level 1, Initiate, 20 XP, streak 1 day" in fields["Pathways"]
    assert "**News Nexus**: level 1, Initiate, 0 XP, streak 0 days" in fields["Pathways"]


async def test_pathway_commands_and_the_role_kept_in_step_both_ways(harness):
    bot = await start(harness)
    bob = harness.member("bob")
    choices = await bob.autocomplete("pathway join", "pathway", "")
    assert [c["value"] for c in choices] == ["gaming", "lorebound", "productive", "news"]
    assert "Welcome" in (await bob.slash("pathway join", pathway="Productive Palace")).content
    await wait_until(lambda: _holds(harness, bob, "Productive Palace"))
    assert "already" in (await bob.slash("pathway join", pathway="productive")).content
    assert [c["value"] for c in await bob.autocomplete("pathway leave", "pathway", "")] == ["productive"]

    bob.gain_role("News Nexus")  # taking the role in Discord joins the pathway

    async def joined_news():
        return "news" in bot.doors.xp.engine.joined.get(int(bob.id), set())

    await wait_until(joined_news)
    listing = await bob.slash("pathway list")
    fields = {f["name"]: f["value"] for f in listing.embed["fields"]}
    assert fields["Productive Palace"] == "★ primary" and fields["News Nexus"] == "joined"
    assert "now your primary" in (await bob.slash("pathway primary", pathway="news")).content
    refused = await bob.slash("pathway primary", pathway="gaming")
    assert refused.ephemeral and "Join the Gaming Realm first" in refused.content
    bad = await bob.slash("pathway join", pathway="cooking")
    assert "There is no pathway called 'cooking'" in bad.content

    assert "You left the News Nexus" in (await bob.slash("pathway leave", pathway="news")).content

    async def role_gone():
        return not await _holds(harness, bob, "News Nexus")

    await wait_until(role_gone)
    row = await bot.pool.fetchrow("SELECT pathways, primary_pathway FROM users WHERE discord_id = $1", bob.id)
    assert (row["pathways"], row["primary_pathway"]) == (["productive"], "productive")
    joins = await bot.pool.fetchval(
        "SELECT count(*) FROM analytics a JOIN users u ON u.id = a.user_id WHERE u.discord_id = $1 "
        "AND a.event_type = 'pathway_join'",
        bob.id,
    )
    assert joins == 2


async def _holds(harness, actor, role_name) -> bool:
    guild = harness.standin.guild
    return role_name in {guild.roles[r].name for r in guild.members[actor.id].roles}


async def test_leaderboard_pages_by_button_periods_and_my_position(harness):
    bot = await start(harness)
    mod = harness.member("mod")
    players = [harness.demo.new_member(f"player{i:02d}") for i in range(23)]
    for i, player in enumerate(players):
        await mod.slash("xp give", member=player, amount=1000 + i * 100, reason="seeding the board")
    chatters = players[:3]
    for player in chatters:
        player.say("weekly activity")
    await handled(bot, 3)
    gone = players[22]
    gone.leave_guild()

    async def gone_off_board():
        return bot.doors.xp.engine.rankings.board(("all", None, "")).members == 22

    await wait_until(gone_off_board)
    first = await harness.member("alice").slash("leaderboard")
    lines = first.embed["description"].splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("**#1** Player21 — 3,100 XP")  # player22 left: not listed
    second = await harness.member("alice").click(first, "Next ▶")
    assert second.embed["description"].splitlines()[0].startswith("**#11** Player11")
    third = await harness.member("alice").click(second, "Next ▶")
    assert [line.split()[0] for line in third.embed["description"].splitlines()] == [f"**#{n}**" for n in (21, 22)]
    assert next(c for r in third.components for c in r["components"] if c["label"] == "Next ▶")["disabled"]
    back = await harness.member("alice").click(third, "◀ Previous")
    assert back.embed["description"].splitlines()[0].startswith("**#11** Player11")

    mine = await players[5].click(first, "My position")
    assert any(line.startswith("→ **#17** Player05") for line in mine.embed["description"].splitlines())
    outsider = await harness.member("carol").click(first, "My position")
    assert "not on this leaderboard yet" in outsider.embed["description"]

    week = await harness.member("alice").slash("leaderboard", period="week")
    week_lines = week.embed["description"].splitlines()
    assert len(week_lines) == 3 and "this week" in week.embed["title"]  # staff gifts are not weekly activity
    assert all("20 XP" in line for line in week_lines)


async def test_staff_commands_change_xp_with_an_audit_trail(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    refused = await alice.slash("xp give", member=harness.member("bob"), amount=50, reason="I want it")
    assert refused.ephemeral and refused.content == "Only staff can change XP."
    assert "250 XP" in (await mod.slash("xp give", member=alice, amount=250, reason="tournament")).content
    assert (await mod.slash("xp take", member=alice, amount=100, reason="spam")).content.startswith(
        "Alice: 250 → 150 XP"
    )
    await alice.slash("pathway join", pathway="gaming")  # pathway XP goes to its members only
    assert (await mod.slash("xp set", member=alice, amount=400, reason="fix", pathway="gaming")).content.startswith(
        "Alice: 0 → 400 XP in Gaming Realm"
    )
    assert await total_xp(bot.pool, alice.id) == 550
    assert (await mod.slash("xp reset", member=alice, reason="season end")).content.startswith("Alice: 550 → 0 XP")
    user_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    log = await admin_logs.actions_on(bot.pool, user_id)
    assert [entry["action"] for entry in log] == ["xp_give", "xp_take", "xp_set", "xp_reset"]
    assert (log[1]["previous_value"]["xp"], log[1]["new_value"]["xp"], log[1]["reason"]) == (250, 150, "spam")
    nothing = await mod.slash("xp take", member=alice, amount=5, reason="again")
    assert nothing.ephemeral and "Nothing to change" in nothing.content
    curve = await mod.slash("xp curve")
    assert "Level 2: from 100 XP, 300 XP to the next" in curve.embed["description"]
    assert "Only staff" in (await alice.slash("xp curve")).content


async def test_reversing_what_a_message_earned(harness):
    bot = await start(harness)
    bob, mod = harness.member("bob"), harness.member("mod")
    spam = bob.say("buy cheap gold now")
    bob.say("a normal message")
    await handled(bot, 2)
    assert await total_xp(bot.pool, bob.id) == 40
    week = await bot.pool.fetchval(
        "SELECT xp FROM xp_period_totals t JOIN users u ON u.id = t.user_id WHERE u.discord_id=$1 AND period='week'"
        " AND pathway = ''",
        bob.id,
    )
    assert week == 40
    reply = await mod.slash("xp reverse", message_id=spam.id, reason="spam")
    assert reply.content == "Reversed 20 XP: 40 → 20."
    assert await total_xp(bot.pool, bob.id) == 20
    rows = await ledger_rows(bot.pool, bob.id)
    assert [(r["source"], r["source_ref"], r["amount"]) for r in rows][-1] == ("reversal", spam.id, -20)
    week_after = await bot.pool.fetchval(
        "SELECT xp FROM xp_period_totals t JOIN users u ON u.id = t.user_id WHERE u.discord_id=$1 AND period='week'"
        " AND pathway = ''",
        bob.id,
    )
    assert week_after == 20
    again = await mod.slash("xp reverse", message_id=spam.id)
    assert again.ephemeral and "already taken back" in again.content
    unknown = await mod.slash("xp reverse", message_id="123")
    assert unknown.ephemeral and "earned no XP" in unknown.content
    not_an_id = await mod.slash("xp reverse", message_id="last one")
    assert "is not a message id" in not_an_id.content


async def test_rank_falls_back_to_an_embed_when_drawing_fails(harness, monkeypatch):
    import cogs.xp.commands as rank_commands

    def broken(card):
        raise OSError("no fonts on this machine")

    monkeypatch.setattr(rank_commands, "draw_rank_card", broken)
    bot = await start(harness)
    harness.member("bob").say("hello there")
    await handled(bot, 1)
    reply = await harness.member("bob").slash("rank")
    assert reply.attachments == []
    assert reply.embed["title"] == "Bob — level 1"
    assert reply.embed["description"] == "Bob: level 1 (Initiate), 20 XP, #1"


async def test_staff_commands_work_only_at_home_and_never_on_oneself(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    # Hidden from members by default: Discord shows /xp only to holders of the default permission.
    synced = {c.name: c for c in bot.synced_commands}
    assert synced["xp"].default_member_permissions is not None
    assert synced["xp"].default_member_permissions.moderate_members
    assert synced["rank"].default_member_permissions is None

    elsewhere = await mod.slash("xp give", member=alice, amount=50, reason="from another server", elsewhere="42")
    assert elsewhere.ephemeral and elsewhere.content == "Staff commands work only in the community's own server."
    own = await mod.slash("xp give", member=mod, amount=1000, reason="for me")
    assert own.ephemeral and own.content == "You can't change your own XP; ask another staff member."
    assert await total_xp(bot.pool, alice.id) == 0 and await total_xp(bot.pool, mod.id) == 0

    message = mod.say("the moderator chats too")
    await handled(bot, 1)
    reverse_own = await mod.slash("xp reverse", message_id=message.id, reason="hmm")
    assert reverse_own.content == "You can't change your own XP; ask another staff member."
    assert await total_xp(bot.pool, mod.id) == 20
    logged = await bot.pool.fetchval("SELECT count(*) FROM admin_logs")
    assert logged == 0


def _longest(harness, command: str, option: str) -> int:
    """The longest value Discord's client lets a member type in /command's option."""
    group, sub = command.split()
    registered = next(c for c in harness.standin.commands[harness.standin.guild.id] if c["name"] == group)
    options = next(o for o in registered["options"] if o["name"] == sub)["options"]
    return next(o for o in options if o["name"] == option).get("max_length", 6000)


async def test_a_pathway_name_of_any_length_gets_a_short_refusal(harness):
    await start(harness)
    bob = harness.member("bob")
    for command in ("pathway join", "pathway leave", "pathway primary"):
        typed = ("**no** <@&1> @everyone " * 300)[: _longest(harness, command, "pathway")]
        reply = await bob.slash(command, pathway=typed)
        assert reply.ephemeral and reply.content.startswith("There is no pathway called '"), reply.content[:200]
        echoed = reply.content.split("'")[1]
        assert len(echoed) <= 100 and "**" not in echoed  # bounded, and no markdown of the member's
        assert reply.content.endswith("The pathways are: Gaming Realm, Lorebound Realm, Productive Palace, News Nexus.")


async def test_xp_set_and_reset_count_the_grants_not_written_yet(harness):
    bot = await start(harness, flush_interval_seconds=60)  # grants wait in memory until a flush
    mod, alice = harness.member("mod"), harness.member("alice")
    for i in range(3):
        alice.say(f"alice chats before the reset {i}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while bot.doors.xp.engine.pending < 3:
        assert loop.time() < deadline, "the grants were not decided"
        await asyncio.sleep(0.01)
    reset = await mod.slash("xp reset", member=alice, reason="season end")
    assert reset.content.startswith("Alice: 60 → 0 XP")  # the 60 decided count before the reset
    await bot.flush_all()
    assert await total_xp(bot.pool, alice.id) == 0  # nothing lands on top of it afterwards
    alice.say("and one more after it")
    while bot.doors.xp.engine.pending < 1:
        assert loop.time() < deadline + 5, "the grant was not decided"
        await asyncio.sleep(0.01)
    done = await mod.slash("xp set", member=alice, amount=500, reason="fix")
    assert done.content.startswith("Alice: 20 → 500 XP")
    await bot.flush_all()
    assert await total_xp(bot.pool, alice.id) == 500


async def test_staff_pathway_xp_goes_only_to_members_of_the_pathway(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    reason = (
        "Alice hasn't joined the Gaming Realm, and XP in it goes to its members only. "
        "They can join with /pathway join gaming; then try again."
    )
    given = await mod.slash("xp give", member=alice, amount=300, reason="tournament", pathway="gaming")
    assert given.ephemeral and given.content == reason
    setting = await mod.slash("xp set", member=alice, amount=300, reason="tournament", pathway="gaming")
    assert setting.content == reason
    assert await ledger_rows(bot.pool, alice.id) == []  # nothing written: no Gaming level-up, no achievement
    assert await bot.pool.fetchval("SELECT count(*) FROM notifications") == 0

    await alice.slash("pathway join", pathway="gaming")
    given = await mod.slash("xp give", member=alice, amount=300, reason="tournament", pathway="gaming")
    assert given.content.startswith("Alice: 0 → 300 XP in Gaming Realm")
    await alice.slash("pathway leave", pathway="gaming")
    # What she holds there can still be taken back after she left; more cannot be given.
    taken = await mod.slash("xp take", member=alice, amount=100, reason="correction", pathway="gaming")
    assert taken.content.startswith("Alice: 300 → 200 XP in Gaming Realm")
    assert (await mod.slash("xp give", member=alice, amount=5, reason="again", pathway="gaming")).content == reason
    primary = await alice.slash("pathway primary", pathway="gaming")
    assert primary.content == "Join the Gaming Realm first (/pathway join)."

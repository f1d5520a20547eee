"""/xp import end to end: staff attach another bot's export; members' levels, the rank index, quiet
reward roles and achievements follow; members and bad files get clear answers."""

from __future__ import annotations

import json

from bot.importing import importer
from bot.importing import sources as src
from tests.factories import snowflake
from tests.test_e2e_achievements import start as start_with_achievements
from tests.test_e2e_achievements import user_id_of
from tests.test_e2e_core import wait_until
from tests.xp_support import handled, start, total_xp


def export(players: list[tuple[str, int]]) -> bytes:
    rows = []
    for discord_id, level in players:
        start_xp = src.mee6_total_for_level(level)
        rows.append({"id": discord_id, "username": "x", "xp": start_xp, "level": level, "message_count": 12})
    return json.dumps({"players": rows}).encode()


async def final_text(harness, reply, prefix: str) -> str:
    async def edited():
        message = harness.standin.messages.get(reply.message.id)
        return message is not None and message.content.startswith(prefix) and message.content

    return await wait_until(edited, timeout=15)


async def test_staff_import_a_mee6_export_and_members_see_their_levels(harness):
    bot = await start(harness)
    alice, bob, mod = harness.member("alice"), harness.member("bob"), harness.member("mod")
    away = snowflake()
    file = export([(alice.id, 10), (bob.id, 4), (away, 20)])
    reply = await mod.slash("xp import", file=("mee6.json", file), source="mee6")
    assert reply.ephemeral
    text = await final_text(harness, reply, "mee6:")
    assert "imported 3 members" in text and "Import id: imp_" in text
    assert len(text) <= 2000
    assert await total_xp(bot.pool, alice.id) == 8100
    rank = await alice.slash("rank")
    # The member not in the server (level 20) is kept but not ranked among current members.
    assert rank.content == "Alice: level 10 (Journeyman), 8,100 XP, #1"
    # Again: nothing changes.
    again = await mod.slash("xp import", file=("mee6.json", file), source="mee6")
    assert "0 members" in await final_text(harness, again, "mee6:")
    assert await total_xp(bot.pool, alice.id) == 8100


async def test_members_cannot_import_and_a_wrong_file_is_one_clear_answer(harness):
    await start(harness)
    alice, mod = harness.member("alice"), harness.member("mod")
    refused = await alice.slash("xp import", file=("x.json", b"{}"), source="mee6")
    assert refused.ephemeral and "Only staff can import XP" in refused.content
    wrong = await mod.slash("xp import", file=("x.csv", b"name,score\n" + b"a" * 5000 + b",1\n"), source="csv")
    assert wrong.ephemeral and wrong.content.startswith("Nothing was imported: this is not an import CSV")
    assert len(wrong.content) <= 2000


async def test_imported_levels_reach_achievements_quietly(harness, tmp_path):
    bot = await start_with_achievements(harness, tmp_path, extra=LEVEL_ACHIEVEMENT)
    alice, mod = harness.member("alice"), harness.member("mod")
    reply = await mod.slash("xp import", file=("mee6.json", export([(alice.id, 6)])), source="mee6")
    await final_text(harness, reply, "mee6:")
    alice_id = await user_id_of(bot, alice)

    async def earned():
        return await bot.pool.fetchval(
            "SELECT earned_at IS NOT NULL FROM user_achievements WHERE user_id = $1 AND achievement_id = 'level-five'",
            alice_id,
        )

    assert await wait_until(earned, timeout=10)
    await bot.flush_all()
    shown = [o.message.content for o in harness.standin.outputs if o.kind in ("message", "dm") and o.message]
    assert not [c for c in shown if "Level Five" in c]  # quietly: no announcement or DM per member
    queued = await bot.pool.fetch("SELECT kind, payload FROM outbox")
    assert not [q for q in queued if q["kind"] in ("dm", "channel_message") and "Level Five" in str(q["payload"])]
    assert await bot.pool.fetchval("SELECT count(*) FROM xp_imports WHERE evaluated_at IS NULL") == 0


async def test_a_member_who_chats_before_the_imports_evaluation_is_not_announced_what_it_earned(harness, tmp_path):
    """`python -m bot import` writes from another process; the bot evaluates the import within a
    minute. A member who chats in between is evaluated first: what the import earned them stays
    quiet all the same: the evaluation waits for the import's."""
    bot = await start_with_achievements(harness, tmp_path, extra=LEVEL_ACHIEVEMENT)
    alice = harness.member("alice")
    parsed = importer.parse_bytes(export([(alice.id, 6)]), "mee6")
    await importer.run(bot.pool, bot.config.community, importer.plan(parsed, importer.Options("mee6")))
    alice.say("back from MEE6")
    await handled(bot, 1)
    await bot.flush_all()  # the XP flush, then the evaluation it asks for
    assert await bot.doors.achievements.after_imports() == 1  # the minute job's turn
    await bot.flush_all()
    alice_id = await user_id_of(bot, alice)
    held = await bot.pool.fetchval(
        "SELECT earned_at IS NOT NULL FROM user_achievements WHERE user_id = $1 AND achievement_id = 'level-five'",
        alice_id,
    )
    assert held
    queued = await bot.pool.fetch("SELECT kind, payload FROM outbox")
    announced = [str(q["payload"]) for q in queued if q["kind"] in ("dm", "channel_message")]
    assert not [a for a in announced if "Level Five" in a or "First Words" in a]


LEVEL_ACHIEVEMENT = """
[[achievement]]
id = "level-five"
name = "Level Five"
category = "milestone"
xp = 10
requirements = { type = "level", amount = 5 }
"""


def test_a_long_summary_stays_within_discords_2000_characters_with_its_code_block_closed():
    from cogs.xp.importing import bounded

    lines = ["head", "```", *[f"row {i} " + "x" * 200 for i in range(40)], "```"]
    text = bounded(lines)
    assert len(text) <= 2000
    assert text.count("```") % 2 == 0 and "more lines)" in text


async def test_staff_cannot_import_their_own_xp(harness):
    await start(harness)
    mod = harness.member("mod")
    reply = await mod.slash("xp import", file=("me.csv", f"id,xp\n{mod.id},5000000\n".encode()), source="csv")
    assert reply.ephemeral and "your own XP (another staff member must import it)" in reply.content
    assert await total_xp(harness.bot.pool, mod.id) == 0

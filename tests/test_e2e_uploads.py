"""Files past Discord's upload limits: /mydata still delivers a member's export past the bot's 10 MiB
(gzipped, or plain where a boosted server's reply takes it), says so clearly when even that is too
large (spending nothing), and /xp import makes a 25 MiB export's fate clear to the staff member
(Discord's client refuses it without Nitro; with it, it is imported; past 25 MiB, the CLI)."""

from __future__ import annotations

import gzip
import json

import pytest

from standin.control import InvalidInvocation
from standin.uploads import MIB
from tests.factories import snowflake
from tests.test_e2e_import import export, final_text
from tests.xp_support import handled, start, total_xp

NITRO = 2


async def _member_with_notifications(harness, name: str, sql_message: str, rows: int) -> tuple:
    """Start the bot; `name` has spoken once and has `rows` website notifications of `sql_message`."""
    bot = await start(harness)
    member = harness.member(name)
    member.say("hello")
    await handled(bot, 1)
    user_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", member.id)
    await bot.pool.execute(
        f"""INSERT INTO notifications (user_id, title, message)
            SELECT $1, 'Level up', {sql_message} FROM generate_series(1, $2) AS g""",
        user_id,
        rows,
    )
    return bot, member


async def test_an_export_over_10_mib_arrives_gzipped_by_dm(harness):
    bot, alice = await _member_with_notifications(
        harness, "alice", "'You reached level ' || g || ' in Gaming. Keep going!'", 60_000
    )
    reply = await alice.slash("mydata", timeout=60)
    assert reply.ephemeral and reply.content == "Sent to you by DM."
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.message.attachments, past=True)
    attached = dm.message.attachments[0]
    assert attached.filename == f"conclave-data-{alice.id}.json.gz"
    assert "gzip-compressed to fit Discord's upload limit" in dm.message.content
    body = gzip.decompress(attached.data)
    assert len(body) > 10 * MIB >= len(attached.data)  # over the limit as it is, within it compressed
    data = json.loads(body)
    assert data["account"]["discord_id"] == alice.id and len(data["notifications"]) == 60_000
    assert await bot.pool.fetchval("SELECT count(*) FROM admin_logs WHERE action = 'data_export'") == 1


async def test_with_dms_closed_a_boosted_servers_reply_takes_it_as_it_is(harness):
    harness.standin.guild.premium_tier = 2  # replies in the server take 50 MiB; a DM still 10
    _, carol = await _member_with_notifications(
        harness, "carol", "'You reached level ' || g || ' in Gaming. Keep going!'", 60_000
    )
    harness.standin.users[carol.id].dms_open = False
    reply = await carol.slash("mydata", timeout=60)
    assert reply.ephemeral and reply.content == "Your DMs are closed, so here it is (only you can see this)."
    attached = reply.attachments[0]
    assert attached.filename == f"conclave-data-{carol.id}.json" and len(attached.data) > 10 * MIB
    assert len(json.loads(attached.data)["notifications"]) == 60_000


async def test_an_export_too_large_even_compressed_is_a_clear_answer_that_spends_nothing(harness):
    # Five notifications of 6.4 MB of hexadecimal each: 32 MB that gzip halves at best.
    noise = "(SELECT string_agg(md5(random()::text || g || n), '') FROM generate_series(1, 200000) AS n)"
    bot, alice = await _member_with_notifications(harness, "alice", noise, 5)
    reply = await alice.slash("mydata", timeout=60)
    assert reply.ephemeral and not reply.attachments
    assert reply.content.startswith("Your data is ") and " MB even compressed, more than Discord lets me send " in (
        reply.content
    )
    assert reply.content.endswith(
        "(10.0 MB), so I couldn't deliver it. Nothing was counted: please ask the staff for a copy."
    )
    assert not [o for o in harness.standin.outputs if o.kind == "dm"]  # nothing was tried (and refused)
    assert await bot.pool.fetchval("SELECT count(*) FROM admin_logs WHERE action = 'data_export'") == 0


def _export_of(size: int, players: list[tuple[str, int]]) -> bytes:
    """A MEE6 export padded with whitespace to exactly `size` bytes (JSON allows it)."""
    data = export(players)
    return data + b" " * (size - len(data))


async def test_a_25_mib_export_without_nitro_is_refused_by_discord_before_the_bot_sees_it(harness):
    await start(harness)
    mod = harness.member("mod")
    before = len(harness.standin.interactions)
    with pytest.raises(InvalidInvocation, match=r"too powerful: mee6.json is 25.00 MB and the max file size is 10 MB"):
        await mod.slash("xp import", file=("mee6.json", _export_of(25 * MIB, [(mod.id, 3)])), source="mee6")
    assert len(harness.standin.interactions) == before


async def test_a_25_mib_export_with_nitro_is_imported(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    harness.standin.users[mod.id].premium_type = NITRO  # members with Nitro attach up to 500 MB
    file = _export_of(25 * MIB, [(alice.id, 10), (snowflake(), 4)])
    reply = await mod.slash("xp import", file=("mee6.json", file), source="mee6", timeout=30)
    assert reply.ephemeral
    text = await final_text(harness, reply, "mee6:")
    assert "imported 2 members" in text
    assert await total_xp(bot.pool, alice.id) == 8100


async def test_an_export_past_25_mib_is_sent_to_the_command_line_in_plain_words(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    harness.standin.users[mod.id].premium_type = NITRO
    file = _export_of(25 * MIB + 1, [(alice.id, 10)])
    reply = await mod.slash("xp import", file=("mee6.json", file), source="mee6", timeout=30)
    assert reply.ephemeral and reply.content == (
        "Nothing was imported: that file is 26,214,401 bytes, more than the 25 MB (26,214,400 bytes) "
        "/xp import takes. Import it on the bot's machine instead: `python -m bot import FILE --from mee6`."
    )
    assert await total_xp(bot.pool, alice.id) in (0, None)

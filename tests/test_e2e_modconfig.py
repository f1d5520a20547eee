"""/modconfig end to end: staff change moderation settings in Discord; each change is validated like
conclave.toml, applied at once, kept across restarts and logged in admin_logs."""

from __future__ import annotations

from tests.test_e2e_moderation import delivered, start

ADMIN_LOGS = """SELECT action, target_id, previous_value, new_value, reason FROM admin_logs
                WHERE target_type = 'setting' ORDER BY created_at"""


async def test_staff_change_a_setting_it_applies_at_once_is_logged_and_survives_a_restart(harness):
    bot, _ = await start(harness)
    admin = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, alice = harness.member("mod"), harness.member("alice")
    changed = await admin.slash("modconfig set", setting="warn_points", value="2", reason="stricter season")
    assert changed.ephemeral and changed.content == "`warn_points` is now 2. Was: 1."
    await mod.slash("mod warn", member=alice, reason="spam")
    points = await bot.pool.fetchval("SELECT (metadata ->> 'points')::int FROM moderation_logs")
    assert points == 2
    rows = await bot.pool.fetch(ADMIN_LOGS)
    assert [(r["action"], r["target_id"], r["reason"]) for r in rows] == [
        ("modconfig_set", "moderation.warn_points", "stricter season")
    ]
    assert rows[0]["previous_value"] == {"value": 1, "from": "conclave.toml"}
    assert rows[0]["new_value"] == {"value": 2, "from": "staff"}

    await harness.stop_bot()
    bot, _ = await start(harness)
    shown = await mod.slash("modconfig show")
    assert "`warn_points`: 2 *(changed with /modconfig)*" in shown.embed["description"]
    assert bot.config.community.moderation.warn_points == 2
    reset = await admin.slash("modconfig reset", setting="warn_points")
    assert reset.content == "`warn_points` is now 1 (conclave.toml's value). Was: 2."
    rows = await bot.pool.fetch(ADMIN_LOGS)
    assert rows[-1]["action"] == "modconfig_reset"
    assert rows[-1]["previous_value"] == {"value": 2, "from": "staff"}
    assert rows[-1]["new_value"] == {"value": 1, "from": "conclave.toml"}


async def test_escalation_and_automod_changed_in_discord_take_effect(harness):
    bot, _ = await start(harness)
    admin = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    set_ladder = await admin.slash("modconfig set", setting="escalation", value="2:timeout:1h, 4:ban")
    assert set_ladder.content == "`escalation` is now 2:timeout:1h, 4:ban. Was: none."
    await mod.slash("mod warn", member=alice, reason="one")
    escalated = await mod.slash("mod warn", member=alice, reason="two")
    assert "Their warning points reached a threshold: case #3, timeout (1h)." in escalated.content

    await admin.slash("modconfig set", setting="automod_flood_messages", value="3")
    on = await admin.slash("modconfig set", setting="automod", value="on")
    assert on.content == "`automod` is now on. Was: off."
    for i in range(3):
        bob.say(f"flood {i}")
    await delivered(bot, "timeout", 2)
    reasons = [r["reason"] for r in await bot.pool.fetch("SELECT reason FROM moderation_logs ORDER BY id")]
    assert reasons[-1] == "automod: 3 messages within 5 s"


async def test_bad_values_and_the_wrong_staff_change_nothing(harness):
    bot, _ = await start(harness)
    admin = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, alice = harness.member("mod"), harness.member("alice")
    muted_high = harness.standin.add_role("Muted", position=150)  # above the bot's own role
    refusals = [
        (
            await mod.slash("modconfig set", setting="warn_points", value="5"),
            "Only staff with Manage Server can change moderation settings.",
        ),
        (await alice.slash("modconfig show"), "Only staff can see moderation settings."),
        (
            await admin.slash("modconfig set", setting="warn_points", value="500"),
            "Not a valid warn_points: warn_points: Input should be less than or equal to 100.",
        ),
        (await admin.slash("modconfig set", setting="warn_points", value="many"), None),
        (await admin.slash("modconfig set", setting="automod", value="maybe"), "automod is on or off."),
        (await admin.slash("modconfig set", setting="escalation", value="3:explode"), None),
        (await admin.slash("modconfig set", setting="automod_timeout", value="permanent"), None),
        (await admin.slash("modconfig set", setting="mute_role", value=f"<@&{muted_high.id}>"), None),
    ]
    for reply, expected in refusals:
        assert reply.ephemeral
        if expected is not None:
            assert reply.content == expected
        else:
            assert reply.content and not reply.content.startswith("`")  # a refusal, not a change
    assert await bot.pool.fetchval("SELECT count(*) FROM admin_logs") == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM community_settings WHERE key LIKE 'moderation.%'") == 0
    assert bot.config.community.moderation.warn_points == 1

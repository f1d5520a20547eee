"""Moderation's guards end to end: what Discord's client refuses before the bot sees it (integer
bounds), cases nobody may change (their own), the staff level a void or an edit needs, and a mute
role that must never carry administrative permissions (checked in /modconfig, at start-up, at
/mod mute and when a muted member rejoins)."""

from __future__ import annotations

import pytest

from bot.core.community import AnnouncementConfig
from db import moderation
from standin import state as s
from standin.control import INTEGER, InvalidInvocation
from tests.test_e2e_appeals import APPEAL_FIELD, NOTE_FIELD, appeal_entry
from tests.test_e2e_core import wait_until
from tests.test_e2e_moderation import delivered, start

INT4_MAX = 2**31 - 1
DISCORD_INT_MAX = 2**53 - 1  # the largest integer Discord's client lets a member type


def _integer_options(command: dict, path: str = "") -> list[tuple[str, dict]]:
    found = []
    for option in command.get("options", []):
        here = f"{path} {option['name']}".strip()
        if option["type"] in (1, 2):
            found += _integer_options(option, here)
        elif option["type"] == INTEGER:
            found.append((here, option))
    return found


async def test_integer_options_carry_bounds_so_a_huge_case_number_never_reaches_the_database(harness):
    bot, _ = await start(harness)
    mod = harness.member("mod")
    await mod.slash("mod note", member=harness.member("alice"), reason="one")
    commands = {c["name"]: c for c in harness.standin.commands[harness.standin.guild.id]}
    options = _integer_options(commands["mod"], "mod") + _integer_options(commands["appeal"], "appeal")
    unbounded = [path for path, o in options if o.get("min_value") is None or o.get("max_value") is None]
    assert unbounded == []
    numbers = {path: o["max_value"] for path, o in options if path.endswith(("number", "case"))}
    assert numbers == {
        "mod case show number": INT4_MAX,
        "mod case edit number": INT4_MAX,
        "mod case void number": INT4_MAX,
        "appeal case": INT4_MAX,
    }
    for path, extra in (("mod case show", {}), ("mod case void", {"reason": "x"}), ("mod case edit", {"reason": "y"})):
        with pytest.raises(InvalidInvocation, match="outside"):
            mod.invoke(path, number=DISCORD_INT_MAX, **extra)
    with pytest.raises(InvalidInvocation, match="outside"):
        harness.member("alice").invoke("appeal", case=DISCORD_INT_MAX, reason="please")
    largest = await mod.slash("mod case show", number=INT4_MAX)
    assert largest.ephemeral and largest.content == f"There is no case #{INT4_MAX}."
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 1


async def _with_modlog(harness, **moderation):
    modlog = harness.standin.add_channel("mod-log")
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        announcements=AnnouncementConfig(general_channel_id=int(demo.general.id), mod_log_channel_id=int(modlog.id)),
        moderation=moderation,
    )
    bot = await harness.start_bot()
    return bot, modlog


async def test_nobody_changes_a_case_about_themselves_not_even_an_administrator(harness):
    bot, modlog = await _with_modlog(harness)
    demo = harness.demo
    boss = demo.new_member("boss", roles=[demo.staff_roles[1]])  # Admin: administrator
    mod, owner = harness.member("mod"), harness.member("owner")
    assert (await boss.slash("mod warn", member=mod, reason="rude in staff chat")).content == "Case #1: warn mod."
    assert (await owner.slash("mod warn", member=boss, reason="careless ban")).content == "Case #2: warn boss."
    refusals = [
        await mod.slash("mod case void", number=1, reason="I disagree"),
        await mod.slash("mod case edit", number=1, reason="nothing happened"),
        await boss.slash("mod case void", number=2, reason="mine to void"),
        await boss.slash("mod case edit", number=2, reason="softer"),
    ]
    for reply in refusals:
        assert reply.ephemeral and reply.content == "Nobody changes a case about themselves: ask another moderator."
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_case_revisions") == 0

    appealed = await mod.slash("appeal", case=1, reason="it was a joke")
    assert appealed.ephemeral and appealed.content.startswith("Your appeal of case #1 was sent")
    entry = await appeal_entry(harness, modlog, 1)
    refused = await mod.click(entry, "Accept")
    assert refused.ephemeral and refused.content == "Nobody decides the appeal of a case about themselves."
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_status"] == "pending"
    form = await boss.click(entry, "Accept")
    assert form.modal is not None  # anyone else at the appeal level decides it


async def test_voiding_or_shortening_a_ban_needs_the_ban_level_because_it_lifts_the_ban(harness):
    demo = harness.demo
    admin_role = demo.staff_roles[1]
    bot, _ = await _with_modlog(harness, action_roles={"ban": [int(admin_role.id)]})
    boss = demo.new_member("boss", roles=[admin_role])
    mod, bob, alice = harness.member("mod"), harness.member("bob"), harness.member("alice")
    assert (await boss.slash("mod ban", member=bob, reason="raid", duration="7d")).content == "Case #1: ban bob (1w)."
    await delivered(bot, "ban")
    for reply in (
        await mod.slash("mod case void", number=1, reason="too harsh"),
        await mod.slash("mod case edit", number=1, duration="1m"),
    ):
        assert (
            reply.ephemeral
            and reply.content == "Only Admin may ban (moderation.action_roles), so only they may change a ban case."
        )
    assert bob.id in harness.standin.guild.bans
    assert await bot.pool.fetchval("SELECT status FROM moderation_sanctions") == "active"
    # a case of an action the moderator may take is theirs to change, and the Admin may void the ban
    await mod.slash("mod warn", member=alice, reason="spam")
    assert (await mod.slash("mod case void", number=2, reason="mistaken")).content == "Case #2 voided."
    assert (await boss.slash("mod case void", number=1, reason="wrong member")).content == "Case #1 voided."
    await delivered(bot, "unban")
    assert bob.id not in harness.standin.guild.bans


@pytest.mark.parametrize(
    ("permission", "name"),
    [
        (s.ADMINISTRATOR, "administrator"),
        (s.MANAGE_GUILD, "manage_guild"),
        (s.MANAGE_ROLES, "manage_roles"),
        (s.BAN_MEMBERS, "ban_members"),
        (s.KICK_MEMBERS, "kick_members"),
        # a moderator's powers over members, which no muted member should gain
        (s.MANAGE_MESSAGES, "manage_messages"),
        (s.MENTION_EVERYONE, "mention_everyone"),
        (s.MANAGE_NICKNAMES, "manage_nicknames"),
        (s.MUTE_MEMBERS, "mute_members"),
        (s.VIEW_AUDIT_LOG, "view_audit_log"),
    ],
)
async def test_modconfig_refuses_a_mute_role_with_administrative_permissions(harness, permission, name):
    powerful = harness.standin.add_role("Muted", permissions=permission, position=5)
    bot, _ = await start(harness)
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    refused = await boss.slash("modconfig set", setting="mute_role", value=f"<@&{powerful.id}>")
    assert refused.ephemeral
    assert refused.content == (
        f"<@&{powerful.id}> has administrative permissions ({name}): a mute role must never carry them."
    )
    assert bot.config.community.moderation.mute_role_id is None
    assert await bot.pool.fetchval("SELECT count(*) FROM community_settings WHERE key LIKE 'moderation.%'") == 0


async def test_a_mute_role_that_gains_administrator_is_neither_handed_out_nor_kept_at_the_next_start(harness, caplog):
    muted = harness.standin.add_role("Muted", position=5)
    bot, _ = await start(harness)
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, bob = harness.member("mod"), harness.member("bob")
    assert (await boss.slash("modconfig set", setting="mute_role", value=muted.id)).content.startswith("`mute_role`")
    assert (await mod.slash("mod mute", member=bob, reason="spam")).content == "Case #1: mute bob (permanent)."
    await delivered(bot, "add_role")
    harness.standin.set_role_permissions(muted, s.ADMINISTRATOR)  # someone edits the role in Discord
    refused = await mod.slash("mod mute", member=harness.member("alice"), reason="spam")
    assert refused.ephemeral
    assert refused.content == "The mute role has administrative permissions (administrator): I won't hand it out."
    bob.leave_guild()
    bob.rejoin_guild()

    async def refused_on_rejoin():
        return f"mute role {muted.id} not given to {bob.id}" in caplog.text

    await wait_until(refused_on_rejoin)
    assert muted.id not in harness.standin.guild.members[bob.id].roles
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'add_role'") == 1

    await harness.stop_bot()
    bot, _ = await start(harness)  # the stored choice no longer fits: the file's value (none) is used
    assert bot.config.community.moderation.mute_role_id is None


async def test_a_mute_role_in_conclave_toml_with_administrative_permissions_stops_the_start(harness):
    powerful = harness.standin.add_role("Muted", permissions=s.BAN_MEMBERS, position=5)
    harness.community = harness.demo.community_config(
        cogs=["cogs.core", "cogs.moderation"], moderation={"mute_role_id": int(powerful.id)}
    )
    with pytest.raises(Exception, match=r"moderation.mute_role_id: role 'Muted' .* administrative permissions"):
        await harness.start_bot()


async def _staff_with_senior(harness, senior, **moderation):
    """The demo with a mod-log, `senior` added to the staff roles, the Moderator at the modconfig level."""
    demo = harness.demo
    modlog = harness.standin.add_channel("mod-log")
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        staff_role_ids=[int(r.id) for r in demo.staff_roles] + [int(senior.id)],
        announcements=AnnouncementConfig(general_channel_id=int(demo.general.id), mod_log_channel_id=int(modlog.id)),
        moderation={"action_roles": {"modconfig": [int(demo.staff_roles[0].id)]}, **moderation},
    )
    return await harness.start_bot()


async def test_a_staff_role_above_the_moderator_is_never_the_mute_role(harness):
    # a staff role without any administrative bit ("Senior Helper": manage messages), above the Moderator (10)
    senior = harness.standin.add_role("Senior Helper", permissions=s.MANAGE_MESSAGES, position=15)
    bot = await _staff_with_senior(harness, senior)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    assert (await alice.slash("mod warn", member=bob, reason="x")).content.startswith("Only staff")
    chosen = await mod.slash("modconfig set", setting="mute_role", value=senior.id)
    assert chosen.ephemeral and not chosen.content.startswith("`mute_role`")
    assert bot.config.community.moderation.mute_role_id is None
    muted = await mod.slash("mod mute", member=alice, reason="friend")
    assert muted.ephemeral and not muted.content.startswith("Case #")
    assert senior.id not in harness.standin.guild.members[alice.id].roles
    assert not (await alice.slash("mod warn", member=bob, reason="muted members are staff now")).content.startswith(
        "Case #"
    )
    assert await bot.pool.fetchval("SELECT count(*) FROM community_settings WHERE key LIKE 'moderation.%'") == 0


async def test_modconfig_refuses_a_staff_role_or_one_not_below_the_actors_top_role_as_the_mute_role(harness):
    senior = harness.standin.add_role("Senior Helper", position=6)  # staff, no permissions, below the Moderator
    above = harness.standin.add_role("Muted", position=12)  # harmless, but above the Moderator (10)
    bot = await _staff_with_senior(harness, senior)
    mod, owner = harness.member("mod"), harness.member("owner")
    staff = await mod.slash("modconfig set", setting="mute_role", value=senior.id)
    assert staff.ephemeral and staff.content == f"<@&{senior.id}> is a staff role: a mute role must never be one."
    refused = await mod.slash("modconfig set", setting="mute_role", value=above.id)
    assert refused.ephemeral
    assert refused.content == f"<@&{above.id}> is not below your highest role, so you could not give it yourself."
    assert bot.config.community.moderation.mute_role_id is None
    # the owner may choose a role above the Moderator; the Moderator's mute then refuses to hand it out
    assert (await owner.slash("modconfig set", setting="mute_role", value=above.id)).content.startswith("`mute_role`")
    refused = await mod.slash("mod mute", member=harness.member("alice"), reason="spam")
    assert refused.ephemeral
    assert refused.content == "The mute role is not below your highest role, so you could not give it yourself."
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 0


async def test_mute_refuses_a_mute_role_that_became_a_staff_role_since_it_was_chosen(harness):
    helper = harness.standin.add_role("Helper", position=6)
    await start(harness)
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    assert (await boss.slash("modconfig set", setting="mute_role", value=helper.id)).content.startswith("`mute_role`")
    await harness.stop_bot()
    # conclave.toml now names it a staff role; the choice kept in the database still points at it
    await _staff_with_senior(harness, helper)
    mod, alice = harness.member("mod"), harness.member("alice")
    refused = await mod.slash("mod mute", member=alice, reason="spam")
    assert refused.ephemeral and refused.content == "The mute role is a staff role: I won't hand it out."
    assert helper.id not in harness.standin.guild.members[alice.id].roles


async def test_accepting_the_appeal_of_a_ban_needs_the_ban_level_because_it_lifts_the_ban(harness):
    demo = harness.demo
    admin_role = demo.staff_roles[1]
    bot, modlog = await _with_modlog(harness, action_roles={"ban": [int(admin_role.id)]})
    boss = demo.new_member("boss", roles=[admin_role])
    mod, bob = harness.member("mod"), harness.member("bob")
    await boss.slash("mod ban", member=bob, reason="raid")
    await delivered(bot, "ban")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.data["recipient_id"] == bob.id, past=True)
    await bob.submit(await bob.click(dm.message, "Appeal"), {APPEAL_FIELD: "let me back"})
    entry = await appeal_entry(harness, modlog, 1)
    refused = await mod.click(entry, "Accept")
    assert refused.modal is None and refused.ephemeral
    assert refused.content == (
        "Only Admin may ban (moderation.action_roles), so only they may accept the appeal of a ban case."
    )
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_status"] == "pending"
    assert await bot.pool.fetchval("SELECT status FROM moderation_sanctions") == "active"
    assert (await mod.click(entry, "Deny")).modal is not None  # denying lifts nothing: the appeal level decides
    decision = await boss.click(entry, "Accept")
    await boss.submit(decision, {NOTE_FIELD: "ok"})
    await delivered(bot, "unban")
    assert bob.id not in harness.standin.guild.bans

"""Level-ups end to end: announcements, notification rows, reward roles (stack and replace), rank
roles, roles back on rejoin, and refusing powerful reward roles."""

from __future__ import annotations

import pytest

from bot.core.community import RoleReward
from standin import state as s
from tests.test_e2e_core import wait_until
from tests.xp_support import handled, start


def reward_roles(harness):
    standin = harness.standin
    return standin.add_role("Level 2", position=4), standin.add_role("Level 3", position=5)


async def roles_of(harness, actor) -> set[str]:
    guild = harness.standin.guild
    return {guild.roles[r].name for r in guild.members[actor.id].roles}


async def test_level_ups_announce_notify_and_stack_reward_roles(harness):
    level2, level3 = reward_roles(harness)
    rewards = [RoleReward(level=2, role_id=int(level2.id)), RoleReward(level=3, role_id=int(level3.id))]
    bot = await start(harness, message_min=100, message_max=100, role_rewards=rewards, reward_mode="stack")
    alice = harness.member("alice")
    alice.say("my first message ever")  # 100 XP: level 2
    await handled(bot, 1)
    announcement = await harness.standin.wait_for(
        lambda o: o.kind == "message" and "reached level 2" in o.message.content, past=True
    )
    assert announcement.message.channel_id == harness.demo.general.id  # "same": where she spoke
    assert f"<@{alice.id}>" in announcement.message.content
    for text in ("second", "third message", "fourth message"):
        alice.say(text)
    await handled(bot, 4)  # 400 XP: level 3
    await wait_until(lambda: _has(harness, alice, {"Level 2", "Level 3"}))
    rows = await bot.pool.fetch(
        """SELECT n.title, n.type FROM notifications n JOIN users u ON u.id = n.user_id
           WHERE u.discord_id = $1 ORDER BY n.id""",
        alice.id,
    )
    assert [(r["title"], r["type"]) for r in rows] == [("Level 2!", "success"), ("Level 3!", "success")]


async def _has(harness, actor, names):
    return names <= await roles_of(harness, actor)


async def test_replace_mode_keeps_only_the_highest_reward(harness):
    level2, level3 = reward_roles(harness)
    rewards = [RoleReward(level=2, role_id=int(level2.id)), RoleReward(level=3, role_id=int(level3.id))]
    bot = await start(
        harness,
        message_min=100,
        message_max=100,
        role_rewards=rewards,
        reward_mode="replace",
        announcements={"level_up": "off"},
    )
    bob = harness.member("bob")
    bob.say("hello there")
    await handled(bot, 1)
    await wait_until(lambda: _has(harness, bob, {"Level 2"}))
    for text in ("a", "bb", "ccc message", "dddd message"):
        bob.say(text + " padding")
    await handled(bot, 5)
    await wait_until(lambda: _has(harness, bob, {"Level 3"}))

    async def level2_gone():
        return "Level 2" not in await roles_of(harness, bob)

    await wait_until(level2_gone)
    assert not [o for o in harness.standin.outputs if o.kind == "message" and "reached level" in o.message.content]


async def test_pathway_level_ups_use_the_pathway_notification_type_and_rank_roles(harness):
    apprentice = harness.standin.add_role("Gaming Apprentice", position=4)
    bot = await start(
        harness,
        message_min=100,
        message_max=100,
        rank_titles={1: "Initiate", 2: "Apprentice"},
        announcements={"level_up": "dm"},
        pathway_overrides={"gaming": {"rank_role_ids": {"Apprentice": int(apprentice.id)}}},
    )
    carol = harness.member("carol")
    await carol.slash("pathway join", pathway="gaming")
    carol.say("gaming talk", channel=harness.demo.pathway_channels["gaming"])
    await handled(bot, 1)
    types = await bot.pool.fetch(
        "SELECT n.type FROM notifications n JOIN users u ON u.id = n.user_id WHERE u.discord_id = $1", carol.id
    )
    assert sorted(r["type"] for r in types) == ["gaming", "success"]
    await wait_until(lambda: _has(harness, carol, {"Gaming Apprentice", "Gaming Realm"}))
    await wait_until(lambda: _true(len([o for o in harness.standin.outputs if o.kind == "dm"]) == 2))
    texts = sorted(o.message.content for o in harness.standin.outputs if o.kind == "dm")
    assert texts == [
        f"<@{carol.id}> reached level 2 in Gaming Realm! Rank: Apprentice",
        f"<@{carol.id}> reached level 2! Rank: Apprentice",
    ]


async def _true(value):
    return value


async def test_a_returning_member_gets_earned_roles_back_except_excluded_ones(harness):
    level2, level3 = reward_roles(harness)
    rewards = [RoleReward(level=2, role_id=int(level2.id)), RoleReward(level=3, role_id=int(level3.id))]
    bot = await start(
        harness,
        message_min=200,
        message_max=200,
        role_rewards=rewards,
        rejoin_exclude_role_ids=[int(level3.id)],
        announcements={"level_up": "off"},
    )
    alice = harness.member("alice")
    await alice.slash("pathway join", pathway="news")
    alice.say("one message here")
    alice.say("two messages here")  # 400 XP: level 3
    await handled(bot, 2)
    await wait_until(lambda: _has(harness, alice, {"Level 2", "Level 3", "News Nexus"}))
    alice.leave_guild()
    alice.rejoin_guild()
    assert await roles_of(harness, alice) == set()
    await wait_until(lambda: _has(harness, alice, {"Level 2", "News Nexus"}))
    assert "Level 3" not in await roles_of(harness, alice)


async def test_a_reward_role_with_administrative_permissions_is_refused_at_start(harness):
    boss = harness.standin.add_role("Boss", permissions=s.ADMINISTRATOR, position=6)
    with pytest.raises(Exception, match="administrative permissions"):
        await start(harness, role_rewards=[RoleReward(level=5, role_id=int(boss.id))])


async def test_a_pathway_role_with_administrative_permissions_is_refused_at_start(harness):
    boss = harness.standin.add_role("Gaming Boss", permissions=s.ADMINISTRATOR, position=6)
    with pytest.raises(Exception, match=r"pathways.gaming.role_id: role 'Gaming Boss'"):
        await start(harness, pathway_overrides={"gaming": {"role_id": int(boss.id)}})

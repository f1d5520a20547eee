"""The pure XP rules and the rank index."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.community import CommunityConfig, PathwayConfig, RoleReward, XPConfig
from bot.rules.ranking import XPCounter
from bot.rules.xp import (
    MessageFacts,
    MessageRules,
    VoiceClock,
    VoiceFacts,
    meaningful_text,
    period_starts,
    reward_roles_for,
    voice_eligible,
)


def facts(content="hello there", *, author=1, channel=10, parent=None, category=None, roles=(), **kw) -> MessageFacts:
    base = dict(author_is_bot=False, is_webhook=False, is_system=False, in_guild=True)
    base.update(kw)
    return MessageFacts(
        author_id=author,
        channel_id=channel,
        parent_id=parent,
        category_id=category,
        role_ids=frozenset(roles),
        content=content,
        **base,
    )


def rules(**xp) -> MessageRules:
    community = CommunityConfig(
        xp=XPConfig(**xp),
        pathways=[PathwayConfig(id="gaming", name="Gaming", channel_ids=[50], category_ids=[60])],
    )
    return MessageRules(community, rng=random.Random(1))


def test_emoji_mentions_and_links_do_not_count_towards_length():
    assert meaningful_text("<:pog:123456> <@!42> <@&7> <#9> https://x.y/z  hi") == "hi"
    assert meaningful_text("  lots   of   space ") == "lots of space"


def test_each_no_xp_rule():
    r = rules(cooldown_seconds=0, no_xp_channel_ids=[99, 77], no_xp_role_ids=[5])
    assert r.why_no_xp(facts(author_is_bot=True), 0) == "not a member's guild message"
    assert r.why_no_xp(facts(is_webhook=True), 0) == "not a member's guild message"
    assert r.why_no_xp(facts(is_system=True), 0) == "not a member's guild message"
    assert r.why_no_xp(facts(in_guild=False), 0) == "not a member's guild message"
    assert r.why_no_xp(facts(channel=99), 0) == "no-XP channel"
    assert r.why_no_xp(facts(channel=123, parent=77), 0) == "no-XP channel"  # a thread of a no-XP channel
    assert r.why_no_xp(facts(roles=(5,)), 0) == "no-XP role"
    assert r.why_no_xp(facts("<:a:1> hi https://t.co/x"), 0) == "too short"
    assert r.why_no_xp(facts("good morning", author=3), 0) is None
    assert r.why_no_xp(facts("Good  morning", author=3), 1) == "repeat of the previous message"


def test_one_grant_per_cooldown():
    r = rules(cooldown_seconds=60)
    assert r.why_no_xp(facts("first one"), 0) is None
    assert r.why_no_xp(facts("second one"), 30) == "cooldown"
    assert r.why_no_xp(facts("third one"), 60) is None
    assert r.why_no_xp(facts("someone else", author=2), 61) is None


def test_amounts_stay_in_the_configured_range():
    r = rules(message_min=15, message_max=25)
    amounts = {r.amount() for _ in range(500)}
    assert min(amounts) >= 15 and max(amounts) <= 25 and len(amounts) == 11


def test_pathway_channels_threads_and_categories():
    r = rules()
    assert r.pathway_for(r.places(facts(channel=50))) == "gaming"
    assert r.pathway_for(r.places(facts(channel=999, parent=50))) == "gaming"  # thread in a pathway channel
    assert r.pathway_for(r.places(facts(channel=998, category=60))) == "gaming"
    assert r.pathway_for(r.places(facts(channel=997))) is None


def test_voice_eligibility():
    base = dict(
        member_id=1,
        is_bot=False,
        channel_id=5,
        category_id=None,
        self_mute=False,
        self_deaf=False,
        deaf=False,
        humans_in_channel=2,
    )
    assert voice_eligible(VoiceFacts(**base), afk_channel_id=9)
    assert not voice_eligible(VoiceFacts(**{**base, "humans_in_channel": 1}), 9)
    assert not voice_eligible(VoiceFacts(**{**base, "self_mute": True}), 9)
    assert not voice_eligible(VoiceFacts(**{**base, "self_deaf": True}), 9)
    assert not voice_eligible(VoiceFacts(**{**base, "channel_id": 9}), 9)
    assert not voice_eligible(VoiceFacts(**{**base, "is_bot": True}), 9)


def test_voice_clock_credits_full_minutes_and_carries_the_rest():
    clock = VoiceClock()
    assert clock.tick({1, 2}, 45) == {}
    assert clock.tick({1, 2}, 30) == {1: 1, 2: 1}
    assert clock.tick({1}, 100) == {1: 1}  # 15 + 100 = 115 s: one minute, 55 s carried
    assert clock.tick({1, 2}, 5) == {1: 1}  # member 2 left in between: their partial minute is gone
    assert clock.seconds[2] == 5


def test_reward_roles_stack_and_replace():
    rewards = [
        RoleReward(level=2, role_id=20),
        RoleReward(level=5, role_id=50),
        RoleReward(level=3, role_id=30, pathway="gaming"),
    ]
    assert reward_roles_for(rewards, 6, None, "stack") == ({20, 50}, set())
    assert reward_roles_for(rewards, 6, None, "replace") == ({50}, {20})
    assert reward_roles_for(rewards, 1, None, "stack") == (set(), {20, 50})
    assert reward_roles_for(rewards, 3, "gaming", "stack") == ({30}, set())


def test_periods_follow_the_configured_timezone():
    late_sunday_utc = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # Monday 2 March in Tokyo
    assert period_starts(late_sunday_utc, "UTC") == (date(2026, 2, 23), date(2026, 3, 1))
    assert period_starts(late_sunday_utc, "Asia/Tokyo") == (date(2026, 3, 2), date(2026, 3, 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 5000)), min_size=1, max_size=60))
def test_positions_match_a_brute_force_rank(moves):
    counter = XPCounter(capacity=16)
    xp: dict[int, int] = {}
    for member, value in moves:
        counter.move(xp.get(member, 0), value)
        xp[member] = value
    for member, value in xp.items():
        expected = None if value == 0 else 1 + sum(1 for v in xp.values() if v > value)
        assert counter.position(value) == expected, (member, value)
    rebuilt = XPCounter()
    histogram: dict[int, int] = {}
    for value in xp.values():
        histogram[value] = histogram.get(value, 0) + 1
    rebuilt.load(histogram.items())
    assert all(rebuilt.position(v) == counter.position(v) for v in xp.values())


def test_the_per_member_memory_is_bounded_by_recency():
    r = rules(cooldown_seconds=60)
    r.max_members = 100
    for member in range(1_000):
        assert r.why_no_xp(facts(f"hello from {member}", author=member), member * 0.01) is None
    assert r.remembered == 100  # the 100 who chatted last; the others were forgotten, oldest first
    assert r.why_no_xp(facts("hello from 999", author=999), 10.0) == "repeat of the previous message"
    assert r.why_no_xp(facts("hello from 0", author=0), 10.0) is None  # forgotten: starts afresh
    # Quiet for longer than the memory lasts (an hour): forgotten whatever the count.
    later = 10.0 + r.remember_s + 1
    assert r.why_no_xp(facts("hello from 999", author=999), later) is None
    assert r.remembered == 1


def test_a_member_in_cooldown_is_remembered_for_the_whole_cooldown():
    r = rules(cooldown_seconds=7_200)  # longer than the memory's hour: the memory lasts as long
    assert r.remember_s == 7_200
    assert r.why_no_xp(facts("first words"), 0) is None
    assert r.cooling_down(1, "in cooldown", 5_000)
    assert r.why_no_xp(facts("in cooldown"), 7_100) == "repeat of the previous message"
    assert r.why_no_xp(facts("new words"), 7_200) is None

"""The achievement rules (pure) and the catalog file's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.catalog import CatalogError, load_catalog
from bot.rules import achievements as rules
from bot.rules.achievements import Group, Leaf, MemberStats, PathwayStats

STATS = MemberStats(
    xp=5000,
    level=8,
    messages=300,
    voice_minutes=90,
    events_attended=4,
    tournaments_won=1,
    achievements_count=2,
    member_days=10,
    pathways={
        "gaming": PathwayStats(xp=900, level=3, events_attended=2, contributions=1, streak_days=5),
        "news": PathwayStats(xp=100, level=2, events_attended=0, contributions=4, streak_days=9),
    },
)


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ({"type": "xp", "amount": 10000}, 50),
        ({"type": "level", "amount": 8}, 100),
        ({"type": "messages", "amount": 1000}, 30),
        ({"type": "voice_minutes", "amount": 60}, 100),
        ({"type": "events_attended", "amount": 8}, 50),
        ({"type": "tournaments_won", "amount": 1, "pathway": "gaming"}, 100),  # the seed's label
        ({"type": "achievements_count", "amount": 4}, 50),
        ({"type": "member_days", "amount": 7}, 100),
        ({"type": "days_member", "amount": 20}, 50),  # the guide's seed name
        ({"type": "streak_days", "amount": 18}, 50),  # global: the best pathway streak
        ({"type": "streak", "amount": 10, "pathway": "gaming"}, 50),
        ({"type": "contributions", "amount": 10}, 50),  # global: all pathways
        ({"type": "contributions", "amount": 5, "pathway": "news"}, 80),
        ({"type": "pathway_level", "amount": 6, "pathway": "gaming"}, 50),
        ({"type": "level", "amount": 2, "pathway": "lorebound"}, 50),  # not joined: level 1
        ({"type": "xp", "amount": 1000, "pathway": "lorebound"}, 0),
    ],
)
def test_each_metric(requirements, expected):
    assert rules.progress(rules.parse(requirements), STATS) == expected


def test_conditions_all_and_any():
    grand_duke = rules.parse({"type": "xp", "amount": 10000, "conditions": {"level": 8, "events_attended": 8}})
    assert grand_duke == Group("all", (Leaf("xp", 10000), Leaf("level", 8), Leaf("events_attended", 8)))
    assert rules.progress(grand_duke, STATS) == (50 + 100 + 50) // 3
    either = rules.parse({"type": "any", "of": [{"type": "xp", "amount": 10000}, {"type": "messages", "amount": 100}]})
    assert rules.progress(either, STATS) == 100
    nested = rules.parse(
        {
            "type": "all",
            "pathway": "gaming",
            "of": [{"type": "xp", "amount": 900}, {"type": "any", "of": [{"type": "level", "amount": 6}]}],
        }
    )
    assert nested.parts[0] == Leaf("xp", 900, "gaming") and nested.parts[1].parts[0] == Leaf("level", 6, "gaming")
    assert rules.progress(nested, STATS) == (100 + 50) // 2
    assert rules.current_and_target(rules.parse({"type": "messages", "amount": 1000}), STATS) == (300, 1000)
    assert rules.current_and_target(either, STATS) is None


@pytest.mark.parametrize(
    ("requirements", "key", "says"),
    [
        ({"amount": 3}, "requirements.type", "is required"),
        ({"type": "karma", "amount": 3}, "requirements.type", "'karma' is not a metric"),
        ({"type": "xp"}, "requirements.amount", "is required"),
        ({"type": "xp", "amount": 0}, "requirements.amount", "between 1"),
        ({"type": "xp", "amount": "100"}, "requirements.amount", "whole number"),
        ({"type": "xp", "amount": 10, "pathway": "cooking"}, "requirements.pathway", "not a pathway"),
        ({"type": "pathway_level", "amount": 3}, "requirements.pathway", "needs a pathway"),
        ({"type": "all", "of": []}, "requirements.of", "non-empty"),
        ({"type": "any", "of": [{"type": "xp", "amount": -1}]}, "requirements.of[0].amount", "between 1"),
        ({"type": "xp", "amount": 5, "conditions": {"karma": 2}}, "requirements.conditions.karma", "not a metric"),
        ({"type": "xp", "amount": 5, "colour": "red"}, "requirements.colour", "not a requirement key"),
    ],
)
def test_bad_requirements_name_the_key(requirements, key, says):
    with pytest.raises(rules.RuleError) as caught:
        rules.parse(requirements)
    assert caught.value.key == key and says in str(caught.value)


leaf = st.builds(
    lambda metric, amount, pathway: {"type": metric, "amount": amount, **({"pathway": pathway} if pathway else {})},
    st.sampled_from(["xp", "level", "messages", "events_attended", "streak_days", "contributions"]),
    st.integers(1, 10_000),
    st.sampled_from([None, "gaming", "news"]),
)
rule = st.recursive(leaf, lambda inner: st.builds(lambda m, of: {"type": m, "of": of}, st.sampled_from(["all", "any"]),
                                                   st.lists(inner, min_size=1, max_size=3)), max_leaves=6)  # fmt: skip
stats = st.builds(
    MemberStats,
    xp=st.integers(0, 20_000),
    level=st.integers(1, 50),
    messages=st.integers(0, 20_000),
    events_attended=st.integers(0, 50),
    pathways=st.dictionaries(
        st.sampled_from(["gaming", "news"]),
        st.builds(PathwayStats, xp=st.integers(0, 9000), level=st.integers(1, 20), streak_days=st.integers(0, 60)),
    ),
)


@given(rule, stats)
def test_progress_is_a_percentage_and_100_only_when_every_part_is_met(requirements, member):
    parsed = rules.parse(requirements)
    percent = rules.progress(parsed, member)
    assert 0 <= percent <= 100

    def met(r: rules.Rule) -> bool:
        if isinstance(r, Leaf):
            return rules.value_of(r, member) >= r.amount
        return (all if r.mode == "all" else any)(met(p) for p in r.parts)

    assert (percent == 100) == met(parsed)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "achievements.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_catalog_is_valid():
    entries = load_catalog(Path(__file__).parent.parent / "achievements.example.toml")
    assert len(entries) >= 3 and len({e.id for e in entries}) == len(entries)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            '[[achievement]]\nid = "chatter"\nname = "Chatter"\nrequirements = { type = "messages", amount = 0 }\n',
            "achievement #1 'chatter': 'requirements.amount' must be between 1",
        ),
        (
            '[[achievement]]\nid = "x"\nname = "X"\nrarity = "ultra"\nrequirements = { type = "xp", amount = 1 }\n',
            "achievement #1 'x': 'rarity' Input should be",
        ),
        ('[[achievement]]\nid = "Bad Id"\nname = "X"\nrequirements = { type = "xp", amount = 1 }\n', "'id'"),
        ('[[achievement]]\nid = "x"\nname = "X"\n', "'requirements' Field required"),
        (
            '[[achievement]]\nid = "x"\nname = "X"\nsparkle = true\nrequirements = { type = "xp", amount = 1 }\n',
            "'sparkle' is not a catalog key",
        ),
        (
            '[[achievement]]\nid = "x"\nname = "X"\nrequirements = { type = "xp", amount = 1 }\n'
            '[[achievement]]\nid = "x"\nname = "Y"\nrequirements = { type = "xp", amount = 2 }\n',
            "achievement #2 'x': 'id' is used twice",
        ),
        ("[badges]\n", "unknown key 'badges'"),
    ],
)
def test_a_bad_catalog_entry_is_refused_naming_the_entry_and_key(tmp_path, body, says):
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path, body))
    assert says in str(caught.value)


@given(rule, stats)
def test_the_compiled_rule_computes_what_the_rule_computes(requirements, member):
    parsed = rules.parse(requirements)
    assert rules.compile_rule(parsed)(member) == rules.progress(parsed, member)

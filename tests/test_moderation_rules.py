"""Durations as moderators type them, and who may act on whom (pure rules)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.moderation import (
    MAX_TIMEOUT,
    DurationError,
    Party,
    capped_timeout,
    format_duration,
    parse_duration,
    why_not,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 2H ", timedelta(hours=2)),
        ("permanent", None),
        ("Forever", None),
    ],
)
def test_durations_moderators_type(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "m", "ten minutes", "10x", "-5m", "0m", "1m; DROP TABLE users", "99999w"])
def test_anything_else_is_a_clear_error(text):
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert "duration" in str(info.value) or "ten years" in str(info.value)


@given(st.integers(min_value=1, max_value=3650 * 86400))
def test_a_formatted_duration_reads_back_the_same(seconds):
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


def test_timeouts_are_capped_at_discords_28_days():
    assert capped_timeout(timedelta(days=30)) == (MAX_TIMEOUT, True)
    assert capped_timeout(None) == (MAX_TIMEOUT, True)
    assert capped_timeout(timedelta(hours=1)) == (timedelta(hours=1), False)


MOD, MEMBER, ADMIN, BOT, OWNER = (
    Party(1, 10),
    Party(2, 1),
    Party(3, 20),
    Party(4, 50, is_bot=True),
    Party(5, 60),
)


def refusal(actor, target, *, permission=True, me=BOT):
    return why_not(actor, target, me, owner_id=OWNER.id, bot_has_permission=permission, permission_name="Ban Members")


def test_who_may_act_on_whom():
    assert refusal(MOD, MEMBER) is None
    assert refusal(MOD, MOD) == "You can't moderate yourself."
    assert refusal(MOD, BOT) == "I can't moderate myself."
    assert refusal(ADMIN, OWNER) == "Nobody can moderate the server owner."
    assert refusal(MOD, ADMIN).startswith("You can only moderate members whose highest role is below yours")
    assert refusal(MOD, Party(6, 10)).startswith("You can only moderate")  # the same top role
    assert refusal(OWNER, ADMIN) is None  # the owner outranks everyone
    assert (
        refusal(MOD, MEMBER, permission=False)
        == "I need the Ban Members permission for that; ask an admin to grant it."
    )
    assert refusal(OWNER, Party(7, 55)).startswith("That member's highest role is not below mine")

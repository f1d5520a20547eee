"""The pure level rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.rules.progression import level_for_xp, level_start_xp, next_level_xp, progress_for, rank_title


@given(st.integers(min_value=1, max_value=10_000))
def test_a_level_starts_exactly_at_its_threshold(level):
    assert level_for_xp(level_start_xp(level)) == level
    assert level_for_xp(next_level_xp(level) - 1) == level
    assert level_for_xp(next_level_xp(level)) == level + 1


@given(st.integers(min_value=0, max_value=2_000_000_000))
def test_progress_is_consistent(total):
    p = progress_for(total)
    assert level_start_xp(p.level) <= total < p.next_level_xp
    assert p.xp == total - level_start_xp(p.level)
    assert 0 <= p.fraction < 1


def test_the_documented_examples():
    assert [level_for_xp(x) for x in (0, 99, 100, 399, 400, 899, 900, 2500)] == [1, 1, 2, 2, 3, 3, 4, 6]
    assert next_level_xp(1) == 100
    assert next_level_xp(5) == 2500


def test_rank_titles_by_pathway_level():
    expected = {
        1: "Initiate",
        4: "Initiate",
        5: "Apprentice",
        10: "Journeyman",
        19: "Journeyman",
        20: "Expert",
        35: "Master",
        49: "Master",
        50: "Grand Master",
        90: "Grand Master",
    }
    assert {lvl: rank_title(lvl) for lvl in expected} == expected

"""Event rules (pure): dates as hosts type them, windows, eligibility, recurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.rules.events import (
    Candidate,
    Requirements,
    WhenError,
    check_window,
    next_occurrence,
    parse_when,
    why_not_register,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_dates_in_the_community_timezone_or_with_an_offset():
    assert parse_when("2026-12-05 20:00", "Europe/Berlin") == datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
    assert parse_when("2026-12-05T20:00+00:00", "Europe/Berlin") == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert parse_when("05.12.2026 20:00", "UTC") == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    with pytest.raises(WhenError, match="is not a date and time"):
        parse_when("friday evening", "UTC")


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        (NOW - timedelta(minutes=1), None, "the start is in the past"),
        (NOW + timedelta(days=1), NOW + timedelta(hours=23), "the end is not after the start"),
        (NOW + timedelta(days=1), NOW + timedelta(days=16), "at most 14 days"),
        (NOW + timedelta(days=4 * 365), None, "more than three years away"),
    ],
)
def test_bad_windows(start, end, says):
    with pytest.raises(WhenError, match=says):
        check_window(start, end, NOW)


def test_eligibility_reasons_in_order():
    event = Requirements("upcoming", NOW + timedelta(days=1), None, 5, "gaming", [7])
    member = Candidate(level=9, pathways=["gaming"], role_ids={7}, sanction=None)
    assert why_not_register(event, member, NOW, role_names={7: "VIP"}) is None
    low = Candidate(level=2, pathways=["gaming"], role_ids={7}, sanction=None)
    assert why_not_register(event, low, NOW, role_names={}) == "This event needs level 5; you are level 2."
    muted = Candidate(level=9, pathways=["gaming"], role_ids={7}, sanction="mute")
    assert why_not_register(event, muted, NOW, role_names={}) == "You can't register while a mute is in force."
    late = Requirements("upcoming", NOW + timedelta(days=1), NOW - timedelta(minutes=1), 0, None, [])
    assert why_not_register(late, member, NOW, role_names={}) == "The registration deadline has passed."
    gone = Requirements("cancelled", NOW + timedelta(days=1), None, 0, None, [])
    assert why_not_register(gone, member, NOW, role_names={}) == "This event was cancelled."


def test_recurrence_keeps_the_local_time_across_daylight_saving_and_ends():
    weekly = {"frequency": "weekly", "interval": 1}
    anchor = datetime(2026, 3, 22, 19, 0, tzinfo=UTC)  # 20:00 in Berlin, winter time
    following = next_occurrence(anchor, anchor, weekly, "Europe/Berlin")
    assert following == datetime(2026, 3, 29, 18, 0, tzinfo=UTC)  # 20:00 in Berlin, summer time
    biweekly = {"frequency": "weekly", "interval": 2}
    assert next_occurrence(anchor, anchor, biweekly, "UTC") == anchor + timedelta(days=14)
    # from a later slot, the rule still counts from its anchor
    assert next_occurrence(anchor, anchor + timedelta(days=14), biweekly, "UTC") == anchor + timedelta(days=28)
    monthly = {"frequency": "monthly", "interval": 1, "end_date": "2026-05-01T00:00:00+00:00"}
    assert next_occurrence(anchor, anchor, monthly, "UTC") == datetime(2026, 4, 22, 19, 0, tzinfo=UTC)
    assert next_occurrence(anchor, datetime(2026, 4, 22, 19, 0, tzinfo=UTC), monthly, "UTC") is None

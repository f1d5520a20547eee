"""The /stats charts as a member reads them: titles and labels legible on the chart's own card, the
whole period on the axis with dates like "2 Dec", whole-number counts from 0, "no data yet" on empty
panels. The figures are inspected after a draw, as the PNG would show them."""

from __future__ import annotations

import io
import math
import re
from datetime import date, timedelta

import pytest
from matplotlib import dates as mdates
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from PIL import Image

from bot.ui import charts
from db.stats import Day

TODAY = date(2026, 12, 2)
DATE_LABEL = re.compile(r"^\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)$")


def _day(
    when: date,
    *,
    members: int | None = 6,
    messages: int = 0,
    xp: dict[str, int] | None = None,
    gaming: int = 0,
) -> Day:
    """A day's row; members=None: no refresh counted the members that day (nor the pathways')."""
    pathways = {} if members is None else {p: gaming if p == "gaming" else 0 for p in charts.PATHWAY_ORDER}
    return Day(when, members, None, messages, 0, 1, 0, 0, xp or {}, pathways)


def _two_days_of_a_month() -> tuple[list[Day], date]:
    """A server a day old, asked for 30 days: figures for yesterday and today only."""
    since = TODAY - timedelta(days=29)
    return [
        _day(TODAY - timedelta(days=1), messages=1),
        _day(TODAY, messages=3, xp={"total": 33, "gaming": 21}, gaming=1),
    ], since


def _drawn(figure):
    figure.draw_without_rendering()  # tick labels and layout as savefig makes them
    return figure


def _luminance(colour) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in to_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _visible_texts(figure) -> list[Text]:
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _in_view(ax, axis: str) -> list[Text]:
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    labels = ax.yaxis.get_majorticklabels() if axis == "y" else ax.xaxis.get_majorticklabels()
    position = 1 if axis == "y" else 0
    return [t for t in labels if low <= t.get_position()[position] <= high and t.get_text()]


HISTORY, SINCE = _two_days_of_a_month()
MONTH = [SINCE + timedelta(days=i) for i in range(30)]
FIGURES = {
    "server": lambda: charts.server_figure(HISTORY, "The Conclave Realm", SINCE, TODAY),
    "server, empty": lambda: charts.server_figure([], "The Conclave Realm", SINCE, TODAY),
    "pathway": lambda: charts.pathway_figure(HISTORY, "gaming", "Gaming Realm", SINCE, TODAY),
    "pathway, nothing earned": lambda: charts.pathway_figure([_day(TODAY)], "news", "News", SINCE, TODAY),
    "me": lambda: charts.member_figure({TODAY: {"total": 33, "gaming": 21}}, MONTH, "Your XP"),
    "me, nothing yet": lambda: charts.member_figure({}, MONTH, "Your XP"),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_title_and_label_reads_on_the_charts_own_card(name):
    figure = _drawn(FIGURES[name]())
    background = figure.get_facecolor()
    texts = _visible_texts(figure)
    titles = [ax.get_title(loc="left") for ax in figure.axes]
    assert all(titles), f"{name}: a panel without a title: {titles}"
    shown = {t.get_text() for t in texts}
    assert set(titles) <= shown
    for text in texts:
        # WCAG's 4.5:1 for body text; black titles on the dark card were about 1.6:1.
        assert _contrast(text.get_color(), background) >= 4.5, (name, text.get_text(), text.get_color())


def test_the_card_is_opaque_so_it_reads_the_same_in_discords_light_and_dark_themes():
    history, since = _two_days_of_a_month()
    png = charts.server_chart(history, "The Conclave Realm", since, TODAY)
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    corner = image.getpixel((2, 2))
    assert corner[3] == 255
    assert corner[:3] == tuple(round(c * 255) for c in to_rgb(charts.BACKGROUND))


def test_a_month_asked_of_a_day_old_server_shows_the_whole_month_on_the_axis():
    history, since = _two_days_of_a_month()
    figure = _drawn(charts.server_figure(history, "The Conclave Realm", since, TODAY))
    for ax in figure.axes:
        low, high = ax.get_xlim()
        assert low <= mdates.date2num(since) and high >= mdates.date2num(TODAY), ax.get_title(loc="left")
        labels = [t.get_text() for t in _in_view(ax, "x")]
        assert len(labels) >= 6, labels  # spread over the month, not two days


@pytest.mark.parametrize("period", [7, 30, 90, 365])
def test_dates_on_the_axis_read_like_2_dec(period):
    since = TODAY - timedelta(days=period - 1)
    history = [_day(since + timedelta(days=i), messages=i % 5) for i in range(period)]
    figure = _drawn(charts.server_figure(history, "The Conclave Realm", since, TODAY))
    for ax in figure.axes:
        labels = [t.get_text() for t in _in_view(ax, "x")]
        assert labels and all(DATE_LABEL.match(label) for label in labels), labels
        assert not ax.xaxis.get_offset_text().get_text()  # no "2026-Dec" tacked on the end
    if period == 7:
        assert labels == ["26 Nov", "27 Nov", "28 Nov", "29 Nov", "30 Nov", "1 Dec", "2 Dec"]


def test_counts_get_whole_number_axes_from_zero_and_a_flat_zero_line_is_not_centred_on_zero():
    since = TODAY - timedelta(days=6)
    history = [_day(since + timedelta(days=i), messages=1 if i in (2, 5) else 0) for i in range(7)]
    figure = _drawn(charts.server_figure(history, "The Conclave Realm", since, TODAY))
    members, messages, xp = figure.axes
    for ax in (members, messages, xp):
        low, _ = ax.get_ylim()
        assert low == 0, (ax.get_title(loc="left"), ax.get_ylim())
        labels = [t.get_text() for t in _in_view(ax, "y")]
        assert labels and all(label.isdigit() for label in labels), (ax.get_title(loc="left"), labels)
    assert [t.get_text() for t in _in_view(messages, "y")] == ["0", "1"]
    assert xp.get_ylim()[1] > 0  # nothing earned: 0..1, not -0.04..0.04


def _panel_notes(figure) -> dict[str, list[str]]:
    return {ax.get_title(loc="left"): [t.get_text() for t in ax.texts] for ax in figure.axes}


def test_empty_panels_say_there_is_no_data_yet():
    since = TODAY - timedelta(days=29)
    assert _panel_notes(charts.server_figure([], "The Conclave Realm", since, TODAY)) == {
        "The Conclave Realm: members": ["no data yet"],
        "messages per day": ["no messages in this period yet"],
        "XP per pathway per day": ["no XP earned in this period yet"],
    }
    assert _panel_notes(charts.pathway_figure([_day(TODAY)], "news", "News", since, TODAY)) == {
        "News: members": ["nobody in News yet"],
        "XP per day": ["no XP earned in News in this period yet"],
    }
    days = [since + timedelta(days=i) for i in range(30)]
    assert _panel_notes(charts.member_figure({}, days, "Your XP")) == {
        "Your XP: XP per day": ["no XP earned in this period yet"]
    }


def test_panels_with_figures_carry_no_empty_note_and_name_the_pathways():
    history, since = _two_days_of_a_month()
    figure = _drawn(charts.server_figure(history, "The Conclave Realm", since, TODAY))
    assert all(notes == [] for notes in _panel_notes(figure).values())
    legend = figure.axes[2].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["Gaming", "no pathway"]


def _members_line(ax) -> list[tuple[date, float]]:
    [line] = ax.get_lines()
    return list(zip(line.get_xdata(), line.get_ydata(), strict=True))


def test_a_day_nobody_counted_the_members_is_a_gap_in_the_line_not_a_zero():
    since = TODAY - timedelta(days=6)
    # Day 2: a row the activity flushes made before any refresh counted the members; day 4: no row at all.
    history = [
        _day(since + timedelta(days=i), members=None if i == 2 else 40 + i, gaming=3) for i in range(7) if i != 4
    ]
    for figure, pathway in (
        (charts.server_figure(history, "The Conclave Realm", since, TODAY), None),
        (charts.pathway_figure(history, "gaming", "Gaming Realm", since, TODAY), "gaming"),
    ):
        points = dict(_members_line(_drawn(figure).axes[0]))
        assert math.isnan(points[since + timedelta(days=2)]) and math.isnan(points[since + timedelta(days=4)])
        counted = [y for y in points.values() if not math.isnan(y)]
        assert 0 not in counted and len(counted) == 5
        if pathway is None:
            assert figure.axes[0].get_ylim()[0] == 0 and min(counted) == 40
        else:
            assert set(counted) == {3}


async def test_the_history_has_no_member_count_for_a_day_only_the_activity_flushes_wrote(conn):
    from db import stats

    await conn.execute("SELECT count_daily_activity(5, 0)")  # messages counted, no refresh yet today
    [day] = await stats.days(conn, date(2000, 1, 1))
    assert (day.messages, day.member_count, day.pathway_members) == (5, None, {})
    await stats.refresh(conn, online_count=None, boost_level=0, boost_count=0)
    day = (await stats.days(conn, date(2000, 1, 1)))[-1]  # today (the refresh settles yesterday too)
    assert day.member_count == 0 and day.pathway_members == dict.fromkeys(charts.PATHWAY_ORDER, 0)

"""Activity charts for /stats, drawn with matplotlib's Agg backend (no display) into PNG bytes.

Each chart is its own Figure (not pyplot's global state), so charts may be drawn in worker threads:
callers run these with asyncio.to_thread, never on the event loop. matplotlib is imported on the
first chart, not at start-up (it takes about half a second)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from db.stats import Day

PATHWAY_COLOURS = {"gaming": "#e74c3c", "lorebound": "#9b59b6", "productive": "#2ecc71", "news": "#3498db"}
PATHWAY_ORDER = ("gaming", "lorebound", "productive", "news")
# Drawn on their own dark card (Discord's dark theme colours), which reads the same in Discord's light
# mode: the image carries its background, so no text depends on the theme around it.
BACKGROUND = "#2b2d31"
FOREGROUND = "#f2f3f5"
MUTED = "#b5bac1"
GRID = "#3f4147"
ACCENT = "#c9a227"


def _figure(rows: int) -> tuple[Figure, list[Any]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 2.6 * rows), dpi=100, facecolor=BACKGROUND, layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.set_facecolor(BACKGROUND)
        ax.tick_params(colors=MUTED, labelcolor=FOREGROUND, labelsize=8)
        for spine in ax.spines.values():
            spine.set_color("#4e5058")
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)  # grid lines behind the bars, not across them
    return figure, list(axes)


def _title(ax: Any, text: str) -> None:
    # loc="left" draws a title of its own, not ax.title: the colour must be given here.
    ax.set_title(text, fontsize=10, loc="left", color=FOREGROUND)


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor=figure.get_facecolor())
    return out.getvalue()


def _dates(ax: Any, since: date, until: date) -> None:
    """The whole period on the axis (days with no figures yet included), dates as "2 Dec"."""
    from matplotlib import dates as mdates

    span = (until - since).days
    if span <= 92:
        locator: Any = mdates.DayLocator(interval=max(1, -(-span // 8)))
    else:
        locator = mdates.MonthLocator(bymonthday=1)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%-d %b"))
    ax.set_xlim(mdates.date2num(since) - 0.6, mdates.date2num(until) + 0.6)  # whole bars at both ends


def _counts(ax: Any, values: Sequence[int | float]) -> None:
    """A count's axis: whole numbers from 0 (a flat zero line gets 0..1, not -0.04..0.04)."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.set_ylim(0, max([1, *values]) * 1.08)


def _no_data(ax: Any, text: str = "no data yet") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED, fontsize=11)


# Up to this many days a bar a day; beyond, one stepped area per series (a year of bars is a few
# thousand patches: 1.6 s to draw, against ~0.3 s as areas).
BARS_UP_TO = 92


def _bars(ax: Any, days: Sequence[date], values: Sequence[int], bottom: Sequence[int], **style: Any) -> None:
    if len(days) <= BARS_UP_TO:
        ax.bar(days, values, bottom=bottom, width=0.8, **style)
    else:
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.fill_between(days, bottom, top, step="mid", linewidth=0, **style)


def _with_gaps(days: Sequence[date], values: Sequence[int | None]) -> tuple[list[date], list[float]]:
    """A day nobody counted (None, or no row at all) is a gap in the line, not a 0 nor a line drawn
    across it: NaN there (matplotlib breaks a line at NaN)."""
    out_days: list[date] = []
    out_values: list[float] = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        if i and (day - days[i - 1]).days > 1:
            out_days.append(days[i - 1] + timedelta(days=1))
            out_values.append(math.nan)
        out_days.append(day)
        out_values.append(math.nan if value is None else value)
    return out_days, out_values


def _line(ax: Any, days: Sequence[date], values: Sequence[int | None], colour: str, nobody: str) -> None:
    marker = "o" if len(days) <= BARS_UP_TO else None
    counted = [v for v in values if v is not None]
    ax.plot(*_with_gaps(days, values), color=colour, linewidth=2, marker=marker, markersize=3)
    _counts(ax, counted)
    if not counted:
        _no_data(ax)
    elif not any(counted):
        _no_data(ax, nobody)  # a flat line on the axis says nothing by itself


def _stacked_pathways(ax: Any, days: Sequence[date], xp: Sequence[dict[str, int]], title: str) -> None:
    bottom = [0] * len(days)
    for pathway in PATHWAY_ORDER:
        values = [figures.get(pathway, 0) for figures in xp]
        if any(values):
            _bars(ax, days, values, bottom, color=PATHWAY_COLOURS[pathway], label=pathway.capitalize())
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    general = [max(0, figures.get("total", 0) - b) for figures, b in zip(xp, bottom, strict=True)]
    if any(general):
        _bars(ax, days, general, bottom, color="#7f8c8d", label="no pathway")
        bottom = [b + g for b, g in zip(bottom, general, strict=True)]
    if ax.get_legend_handles_labels()[0]:
        legend = ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncols=5)
        for text in legend.get_texts():
            text.set_color(FOREGROUND)
    else:
        _no_data(ax, "no XP earned in this period yet")
    _counts(ax, bottom)
    _title(ax, title)


def server_chart(history: Sequence[Day], title: str, since: date, until: date) -> bytes:
    """Members over time, messages per day, XP per pathway per day, over the whole period (a PNG)."""
    return _png(server_figure(history, title, since, until))


def server_figure(history: Sequence[Day], title: str, since: date, until: date) -> Figure:
    figure, (members, messages, xp) = _figure(3)
    days = [d.day for d in history]
    _line(members, days, [d.member_count for d in history], ACCENT, "no members counted yet")
    _title(members, f"{title}: members")
    counts = [d.messages for d in history]
    _bars(messages, days, counts, [0] * len(days), color="#5865f2")
    _counts(messages, counts)
    if not any(counts):
        _no_data(messages, "no messages in this period yet")
    _title(messages, "messages per day")
    _stacked_pathways(xp, days, [d.xp for d in history], "XP per pathway per day")
    for ax in (members, messages, xp):
        _dates(ax, since, until)
    return figure


def pathway_chart(history: Sequence[Day], pathway: str, title: str, since: date, until: date) -> bytes:
    """A pathway's members (in the server, joined) and its XP per day, over the whole period (a PNG)."""
    return _png(pathway_figure(history, pathway, title, since, until))


def pathway_figure(history: Sequence[Day], pathway: str, title: str, since: date, until: date) -> Figure:
    figure, (members, xp) = _figure(2)
    days = [d.day for d in history]
    colour = PATHWAY_COLOURS.get(pathway, ACCENT)
    counted = [d.pathway_members.get(pathway, 0) if d.pathway_members else None for d in history]
    _line(members, days, counted, colour, f"nobody in {title} yet")
    _title(members, f"{title}: members")
    earned = [d.xp.get(pathway, 0) for d in history]
    _bars(xp, days, earned, [0] * len(days), color=colour)
    _counts(xp, earned)
    if not any(earned):
        _no_data(xp, f"no XP earned in {title} in this period yet")
    _title(xp, "XP per day")
    for ax in (members, xp):
        _dates(ax, since, until)
    return figure


def member_chart(by_day: dict[date, dict[str, int]], days: Sequence[date], title: str) -> bytes:
    """One member's XP per day, by pathway (a PNG)."""
    return _png(member_figure(by_day, days, title))


def member_figure(by_day: dict[date, dict[str, int]], days: Sequence[date], title: str) -> Figure:
    figure, (xp,) = _figure(1)
    _stacked_pathways(xp, days, [by_day.get(d, {}) for d in days], f"{title}: XP per day")
    if days:
        _dates(xp, min(days), max(days))
    return figure

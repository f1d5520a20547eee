"""Activity charts for /stats, drawn with matplotlib's Agg backend (no display) into PNG bytes.

Each chart is its own Figure (not pyplot's global state), so charts may be drawn in worker threads:
callers run these with asyncio.to_thread, never on the event loop. matplotlib is imported on the
first chart, not at start-up (it takes about half a second)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db.stats import Day

PATHWAY_COLOURS = {"gaming": "#e74c3c", "lorebound": "#9b59b6", "productive": "#2ecc71", "news": "#3498db"}
PATHWAY_ORDER = ("gaming", "lorebound", "productive", "news")
BACKGROUND = "#2b2d31"
FOREGROUND = "#dbdee1"
ACCENT = "#c9a227"


def _figure(rows: int) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 2.6 * rows), dpi=100, facecolor=BACKGROUND, layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.set_facecolor(BACKGROUND)
        ax.tick_params(colors=FOREGROUND, labelsize=8)
        for spine in ax.spines.values():
            spine.set_color("#4e5058")
        ax.grid(axis="y", color="#3f4147", linewidth=0.6)
        ax.title.set_color(FOREGROUND)
    return figure, list(axes)


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor=figure.get_facecolor())
    return out.getvalue()


def _dates(ax: Any, days: Sequence[date]) -> None:
    from matplotlib import dates as mdates

    span = (max(days) - min(days)).days if days else 0
    # A tick a day (or every few days) up to two months; beyond, matplotlib's choice of weeks or months.
    locator = mdates.DayLocator(interval=max(1, span // 7)) if span <= 60 else mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.xaxis.get_offset_text().set_color(FOREGROUND)
    if days:  # whole bars at both ends
        ax.set_xlim(mdates.date2num(min(days)) - 0.6, mdates.date2num(max(days)) + 0.6)


# Up to this many days a bar a day; beyond, one stepped area per series (a year of bars is a few
# thousand patches: 1.6 s to draw, against ~0.3 s as areas).
BARS_UP_TO = 92


def _bars(ax: Any, days: Sequence[date], values: Sequence[int], bottom: Sequence[int], **style: Any) -> None:
    if len(days) <= BARS_UP_TO:
        ax.bar(days, values, bottom=bottom, width=0.8, **style)
    else:
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.fill_between(days, bottom, top, step="mid", linewidth=0, **style)


def _stacked_pathways(ax: Any, days: Sequence[date], xp: Sequence[dict[str, int]], title: str) -> None:
    bottom = [0] * len(days)
    for pathway in PATHWAY_ORDER:
        values = [figures.get(pathway, 0) for figures in xp]
        if any(values):
            _bars(ax, days, values, bottom, color=PATHWAY_COLOURS[pathway], label=pathway)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    general = [max(0, figures.get("total", 0) - b) for figures, b in zip(xp, bottom, strict=True)]
    if any(general):
        _bars(ax, days, general, bottom, color="#7f8c8d", label="no pathway")
    if ax.get_legend_handles_labels()[0]:
        legend = ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncols=5)
        for text in legend.get_texts():
            text.set_color(FOREGROUND)
    ax.set_title(title, fontsize=10, loc="left")


def server_chart(history: Sequence[Day], title: str) -> bytes:
    """Members over time, messages per day, XP per pathway per day."""
    figure, (members, messages, xp) = _figure(3)
    days = [d.day for d in history]
    marker = "o" if len(days) <= BARS_UP_TO else None
    members.plot(days, [d.member_count for d in history], color=ACCENT, linewidth=2, marker=marker, markersize=3)
    members.set_title(f"{title}: members", fontsize=10, loc="left")
    _bars(messages, days, [d.messages for d in history], [0] * len(days), color="#5865f2")
    messages.set_title("messages per day", fontsize=10, loc="left")
    _stacked_pathways(xp, days, [d.xp for d in history], "XP per pathway per day")
    for ax in (members, messages, xp):
        _dates(ax, days)
    return _png(figure)


def pathway_chart(history: Sequence[Day], pathway: str, title: str) -> bytes:
    """A pathway's members (in the server, joined) and its XP per day."""
    figure, (members, xp) = _figure(2)
    days = [d.day for d in history]
    colour = PATHWAY_COLOURS.get(pathway, ACCENT)
    marker = "o" if len(days) <= BARS_UP_TO else None
    members.plot(
        days,
        [d.pathway_members.get(pathway, 0) for d in history],
        color=colour,
        linewidth=2,
        marker=marker,
        markersize=3,
    )
    members.set_title(f"{title}: members", fontsize=10, loc="left")
    _bars(xp, days, [d.xp.get(pathway, 0) for d in history], [0] * len(days), color=colour)
    xp.set_title("XP per day", fontsize=10, loc="left")
    for ax in (members, xp):
        _dates(ax, days)
    return _png(figure)


def member_chart(by_day: dict[date, dict[str, int]], days: Sequence[date], title: str) -> bytes:
    """One member's XP per day, by pathway."""
    figure, (xp,) = _figure(1)
    _stacked_pathways(xp, days, [by_day.get(d, {}) for d in days], f"{title}: XP per day")
    _dates(xp, days)
    return _png(figure)

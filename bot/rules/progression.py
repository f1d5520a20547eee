"""Level maths and rank titles (design.md, decision 6). Pure: no I/O; the SQL functions mirror it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import isqrt

from bot.core.community import DEFAULT_RANK_TITLES

XP_PER_LEVEL_UNIT = 100


def level_for_xp(total_xp: int) -> int:
    """Level for total XP: floor(sqrt(total_xp / 100)) + 1 (exact, in integers)."""
    if total_xp <= 0:
        return 1
    return isqrt(total_xp // XP_PER_LEVEL_UNIT) + 1


def level_start_xp(level: int) -> int:
    """Total XP at which `level` starts: (level - 1)^2 * 100."""
    return (level - 1) ** 2 * XP_PER_LEVEL_UNIT


def next_level_xp(level: int) -> int:
    """Total XP at which the level after `level` starts: level^2 * 100."""
    return level * level * XP_PER_LEVEL_UNIT


def rank_title(level: int, titles: Mapping[int, str] = DEFAULT_RANK_TITLES) -> str:
    eligible = [lvl for lvl in titles if lvl <= level]
    return titles[max(eligible)] if eligible else titles[min(titles)]


@dataclass(frozen=True)
class Progress:
    total_xp: int
    level: int
    xp: int  # inside the current level
    next_level_xp: int  # total XP where the next level starts
    rank: str

    @property
    def needed(self) -> int:
        return self.next_level_xp - self.total_xp

    @property
    def fraction(self) -> float:
        span = self.next_level_xp - level_start_xp(self.level)
        return self.xp / span if span else 0.0


def progress_for(total_xp: int, titles: Mapping[int, str] = DEFAULT_RANK_TITLES) -> Progress:
    total_xp = max(0, total_xp)
    level = level_for_xp(total_xp)
    return Progress(
        total_xp=total_xp,
        level=level,
        xp=total_xp - level_start_xp(level),
        next_level_xp=next_level_xp(level),
        rank=rank_title(level, titles),
    )

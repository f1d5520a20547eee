"""Leaderboard positions in O(log max XP): one Fenwick tree per board, counting members by XP value.

A member's position is 1 + the number of members with more XP (ties share a position, as SQL's
RANK()). The trees are built from the database at start-up and moved by every committed flush, so
positions are exact as of the last committed write (at most one flush interval behind a message).
Memory is 4 bytes per XP value up to the board's highest total, not per member."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

BoardKey = tuple[str, date | None, str]  # (period: all|week|month, period start, board: "" or pathway)


class XPCounter:
    """A Fenwick tree over XP values >= 1 (members with no XP are unranked)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 1
        while self.size < capacity:
            self.size *= 2
        self.tree = array("i", [0]) * (self.size + 1)
        self.members = 0
        self.total_xp = 0  # sum of members' XP (with `members`, a fingerprint to compare with SQL)

    def _grow(self, value: int) -> None:
        """Double the size until `value` fits. With power-of-two sizes every existing node keeps
        its range, the new nodes between the old size and the new one cover only XP values no
        member has yet (zero), and the new root covers everything (the old root's count): growth
        is a copy at C speed, whatever the size (it used to rebuild in Python: 10 s at 2^22)."""
        while self.size < value:
            old = self.size
            total = self.tree[old]
            self.tree.extend(array("i", bytes(4 * old)))
            self.size = old * 2
            self.tree[self.size] = total

    def _build(self, counts: list[int]) -> None:
        """Fill the (zeroed) tree from counts[1..size] in O(size)."""
        tree = self.tree
        for value in range(1, self.size + 1):
            tree[value] += counts[value]
            parent = value + (value & -value)
            if parent <= self.size:
                tree[parent] += tree[value]

    def _add(self, value: int, delta: int) -> None:
        if value > self.size:
            self._grow(value)
        tree, size = self.tree, self.size
        while value <= size:
            tree[value] += delta
            value += value & -value

    def _prefix(self, value: int) -> int:
        """How many members have XP in 1..value."""
        value = min(value, self.size)
        total, tree = 0, self.tree
        while value > 0:
            total += tree[value]
            value -= value & -value
        return total

    def load(self, histogram: Iterable[tuple[int, int]]) -> None:
        """Replace the contents with (xp, members) pairs, in O(max XP)."""
        pairs = [(xp, n) for xp, n in histogram if xp > 0 and n > 0]
        highest = max((xp for xp, _ in pairs), default=1)
        size = 1
        while size < highest:
            size *= 2
        self.size = max(size, 1024)
        self.tree = array("i", [0]) * (self.size + 1)
        counts = [0] * (self.size + 1)
        for xp, n in pairs:
            counts[xp] += n
        self._build(counts)
        self.members = sum(n for _, n in pairs)
        self.total_xp = sum(xp * n for xp, n in pairs)

    def move(self, before: int, after: int) -> None:
        """A member's XP changed from `before` to `after` (0 means not on the board)."""
        if before == after:
            return
        if before > 0:
            self._add(before, -1)
            self.members -= 1
            self.total_xp -= before
        if after > 0:
            self._add(after, 1)
            self.members += 1
            self.total_xp += after

    def fingerprint(self) -> tuple[int, int]:
        """(members, sum of their XP): what boards.fingerprints() computes in SQL."""
        return self.members, self.total_xp

    def position(self, xp: int) -> int | None:
        """1 + members with more XP; None for a member with no XP."""
        if xp <= 0:
            return None
        return 1 + self.members - self._prefix(xp)


@dataclass
class Rankings:
    """Every board's counter; period boards exist for the current week and month only."""

    boards: dict[BoardKey, XPCounter] = field(default_factory=dict)

    def board(self, key: BoardKey) -> XPCounter:
        counter = self.boards.get(key)
        if counter is None:
            counter = self.boards[key] = XPCounter()
        return counter

    def has(self, key: BoardKey) -> bool:
        return key in self.boards

    def move(self, key: BoardKey, before: int, after: int) -> None:
        self.board(key).move(before, after)

    def position(self, key: BoardKey, xp: int) -> int | None:
        return self.board(key).position(xp)

    def forget_periods_before(self, week_start: date, month_start: date) -> None:
        for key in [k for k in self.boards if k[0] == "week" and k[1] != week_start] + [
            k for k in self.boards if k[0] == "month" and k[1] != month_start
        ]:
            del self.boards[key]

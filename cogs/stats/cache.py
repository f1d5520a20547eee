"""What /stats server and /stats pathway answered (the embed and the chart's PNG), kept per (guild,
command, period) for TTL_S seconds so a burst of calls costs one refresh, one read and one chart.

An answer says the moment its figures are as of (`Figures as of <t:...>`), so a kept one is never
passed off as newer than it is; after TTL_S the next call recomputes (new messages, XP and members
show then). Bounded: at most MAX_ENTRIES answers (a chart is ~100 KB: ~6 MB at most), the oldest
dropped first; /stats me is not kept (one member's own figures, written first)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TTL_S = 30.0
MAX_ENTRIES = 64  # (server + 4 pathways) x 4 periods = 20 per guild, with room


@dataclass(frozen=True)
class Answer:
    embed: dict[str, Any]  # discord.Embed.to_dict()
    png: bytes


class AnswerCache:
    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.computed = 0  # answers computed (not served from here), for tests and doctor-like looks
        self._entries: OrderedDict[Hashable, tuple[float, Answer]] = OrderedDict()

    def get(self, key: Hashable) -> Answer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored, answer = entry
        if time.monotonic() - stored > self.ttl_s:
            del self._entries[key]
            return None
        return answer

    def put(self, key: Hashable, answer: Answer) -> None:
        self.computed += 1
        self._entries[key] = (time.monotonic(), answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every kept answer (the next calls recompute)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

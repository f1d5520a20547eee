"""A local journal of writes kept while the database is unavailable: spilled when the pending
buffer passes its bound, or at a stop during an outage; replayed first once the database answers
(and so at the next start). One JSON-lines file per spill, written atomically."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sequence = 0

    def spill(self, records: Iterable[dict[str, Any]]) -> tuple[Path, int] | None:
        """Write `records` to a new file (atomically: a reader never sees half a spill)."""
        lines = [json.dumps(r, separators=(",", ":"), default=str) for r in records]
        if not lines:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence:04d}.jsonl"
        tmp = self.directory / (name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        path = self.directory / name
        tmp.replace(path)
        return path, len(lines)

    def rewrite(self, path: Path, records: Iterable[dict[str, Any]]) -> None:
        """Replace a file's records (what is left of it after a partial replay), atomically."""
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    def files(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    def read(self, path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def pending_records(self) -> int:
        return sum(sum(1 for line in p.read_text(encoding="utf-8").splitlines() if line.strip()) for p in self.files())


# The journals the bot keeps under <data_dir>/journal/ (one directory each).
JOURNALS = ("xp", "activity", "achievements", "analytics")


def erase_member(root: Path, discord_id: str, user_id: str) -> int:
    """What an erased member left in the local journal: their pending grants, counts and checks
    dropped; their analytics kept for the counts, without the member (as /erase does to the rows).
    Returns how many records changed."""
    changed = 0
    for name in JOURNALS:
        journal = Journal(root / name)
        for path in journal.files():
            records, kept = journal.read(path), []
            for record in records:
                about = str(record.get("discord_id")) == discord_id or record.get("user_id") == user_id
                if not about:
                    kept.append(record)
                    continue
                changed += 1
                if name == "analytics":
                    kept.append({**record, "discord_id": None, "user_id": None})
            if kept == records:
                continue
            if kept:
                journal.rewrite(path, kept)
            else:
                journal.done(path)
    return changed

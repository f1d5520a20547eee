"""What other leveling bots export (MEE6, Lurkr, Amari, Polaris, a CSV), read into rows of ours, and
how a member's level there maps onto our curve. Pure: no I/O, no database."""

from __future__ import annotations

import csv
import gc
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import isqrt
from typing import Any, Literal, NamedTuple

Source = Literal["mee6", "lurkr", "amari", "polaris", "csv"]
Mapping_ = Literal["level", "xp"]
SOURCES: tuple[Source, ...] = ("mee6", "lurkr", "amari", "polaris", "csv")

MAX_XP = 10**9  # anything above is absurd (and our INTEGER totals must stay far from 2^31)
MAX_LEVEL = 3_000  # our level 3,000 needs 899,600,100 XP
SNOWFLAKE = re.compile(r"[1-9][0-9]{16,19}")
NAME_LIMIT = 32  # Discord usernames are at most 32 characters


class ImportFormatError(ValueError):
    """The file is not what --from says it is (or is cut short): nothing is imported."""


class SourceRow(NamedTuple):  # immutable as a frozen dataclass, and built in a third of its time (1M rows)
    """One member as the source tells it; `row` is where it was (1-based; a CSV's header is row 1)."""

    row: int
    discord_id: str
    username: str | None
    xp: int | None
    level: int | None
    messages: int | None = None
    progress: float | None = None  # the fraction of the level done, where the source says it
    is_bot: bool = False


@dataclass(frozen=True)
class Skip:
    row: int
    discord_id: str | None
    reason: str


@dataclass
class Parsed:
    source: Source
    rows: list[SourceRow] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    role_rewards: list[tuple[int, str]] = field(default_factory=list)  # (source level, role id)


# -- the curves ------------------------------------------------------------------------------


def our_total_for_level(level: int) -> int:
    """Our curve: level L starts at 100·(L-1)² total XP (level = ⌊√(XP/100)⌋ + 1)."""
    return 100 * (max(1, level) - 1) ** 2


def our_level(total_xp: int) -> int:
    return isqrt(max(0, total_xp) // 100) + 1


def mee6_total_for_level(level: int) -> int:
    """MEE6's curve (Lurkr keeps the same one): level n needs 5/6·n·(2n²+27n+91) total XP."""
    n = max(0, level)
    return 5 * n * (2 * n * n + 27 * n + 91) // 6


def mee6_level(total_xp: int) -> int:
    level = 0
    while mee6_total_for_level(level + 1) <= total_xp:
        level += 1
    return level


# Sources whose curve is published: their XP inside a level tells the progress through it.
CURVES = {"mee6": (mee6_total_for_level, mee6_level), "lurkr": (mee6_total_for_level, mee6_level)}


def mapped_xp(row: SourceRow, source: Source, by: Mapping_) -> int | None:
    """The total XP a member gets here. By level: the XP that reaches the same level on our curve
    (the source's level 0 is our lowest, 1), the progress inside the level kept as a fraction where
    the source tells it (MEE6's detailed_xp, or its XP on a published curve); else the level's start.
    By XP: the source's XP, our curve deciding the level. None when the row has what neither needs."""
    if by == "xp" or row.level is None:
        return row.xp
    level = max(1, row.level)
    progress = row.progress
    if progress is None and row.xp is not None and source in CURVES:
        total_for, _ = CURVES[source]
        start, end = total_for(row.level), total_for(row.level + 1)
        if start <= row.xp < end:
            progress = (row.xp - start) / (end - start)
    start = our_total_for_level(level)
    span = our_total_for_level(level + 1) - start
    return start + int(span * min(max(progress or 0.0, 0.0), 0.999_999))


def effective_mapping(parsed: Parsed, by: Mapping_) -> tuple[Mapping_, str | None]:
    """By level needs levels: a source that exports XP only (Polaris) is mapped by XP, said so."""
    if by == "level" and parsed.rows and all(r.level is None for r in parsed.rows):
        return "xp", f"{parsed.source} exports XP only, so XP is copied and our curve decides the level"
    return by, None


# -- reading ---------------------------------------------------------------------------------


@contextmanager
def without_gc() -> Iterator[None]:
    """The cyclic collector paused: reading a million rows makes millions of objects with no cycles
    among them, and the collector would walk them all again and again (a third of the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse(data: bytes, source: Source) -> Parsed:
    """Read a whole export. A file that is not `source`'s format, or is cut short, raises
    ImportFormatError naming what is wrong; a bad row is skipped with its reason."""
    with without_gc():
        return _parse(data, source)


def _parse(data: bytes, source: Source) -> Parsed:
    if source == "csv":
        return _finish(Parsed(source), _csv_rows(data))
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except RecursionError:
        raise ImportFormatError("the file is not an export: its JSON is nested far too deep") from None
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        ended = exc.msg.startswith("Unterminated") or exc.pos >= len(data.rstrip()) - 1
        cut = " (the file looks cut short)" if ended else ""
        raise ImportFormatError(
            f"the file is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{cut}"
        ) from None
    parsed = Parsed(source)
    return _finish(parsed, _json_rows(doc, source, parsed))


def merge_pages(pages: Iterable[Any], key: str) -> dict[str, Any]:
    """Pages fetched from an API, as one document of the source's shape: the `key` lists one after
    another, everything else (role rewards, rates) as the first page says it."""
    merged: dict[str, Any] = {}
    for page in pages:
        for name, value in page.items():
            if name == key and isinstance(value, list):
                merged.setdefault(name, []).extend(value)
            else:
                merged.setdefault(name, value)
    return merged


_LIST_KEY = {"mee6": "players", "lurkr": "levels", "amari": "data", "polaris": "leaderboard"}


def _json_rows(doc: Any, source: Source, parsed: Parsed) -> Iterator[tuple[int, Mapping[str, Any] | Any]]:
    key = _LIST_KEY[source]
    if isinstance(doc, list) and source == "mee6" and all(isinstance(p, dict) and "players" in p for p in doc):
        doc = merge_pages(doc, "players")  # pages saved one after another
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        found = ", ".join(sorted(doc)[:6]) if isinstance(doc, dict) else type(doc).__name__
        raise ImportFormatError(f"this is not a {source} export: it has no `{key}` list (found: {found or 'nothing'})")
    rewards = doc.get("role_rewards") if source == "mee6" else None
    if isinstance(rewards, list):
        for reward in rewards:
            role = reward.get("role") if isinstance(reward, dict) else None
            if isinstance(role, dict) and _int(reward.get("rank")) is not None and role.get("id") is not None:
                parsed.role_rewards.append((_int(reward["rank"]), str(role["id"])))
    yield from enumerate(doc[key], start=1)


def _csv_rows(data: bytes) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise ImportFormatError(f"this is not an import CSV: {exc}") from None
    if "id" not in header or not ({"xp", "level"} & set(header)):
        raise ImportFormatError(
            "this is not an import CSV: its header row must name `id` and `xp` or `level` "
            f"(found: {', '.join(header[:8]) or 'no header'})"
        )
    reader.fieldnames = header
    width = len(header)
    for i, record in _csv_records(reader):
        if None in record or any(v is None for v in record.values()):
            cells = width + len(record.get(None) or []) - sum(v is None for v in record.values())
            raise ImportFormatError(f"row {i} has {cells} cells where the header has {width} (is the file cut short?)")
        yield i, {"id": record.get("id"), **{k: v for k, v in record.items() if k != "id"}}


def _csv_records(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, Any]]]:
    i = 1
    while True:
        i += 1
        try:
            yield i, next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a cell over the csv module's limit, a stray quote
            raise ImportFormatError(f"row {i} cannot be read: {exc}") from None


class _Fields(NamedTuple):
    """A row's fields under our names, as the file has them (not checked yet)."""

    id: Any
    username: Any
    xp: Any
    level: Any
    messages: Any = None
    progress: float | None = None
    bot: Any = None


def _row_fields(source: Source, item: Mapping[str, Any]) -> _Fields:
    get = item.get
    if source == "mee6":
        detail = get("detailed_xp")
        progress = None
        if type(detail) is list and len(detail) >= 2:
            into, span = _int(detail[0]), _int(detail[1])
            if into is not None and span:
                progress = into / span
        return _Fields(get("id"), get("username"), get("xp"), get("level"), get("message_count"), progress, get("bot"))
    if source == "lurkr":
        user = get("user") if isinstance(get("user"), dict) else {}
        return _Fields(
            get("userId"), user.get("username"), get("xp"), get("level"), get("messageCount"), None, user.get("bot")
        )
    if source in ("amari", "polaris"):
        return _Fields(get("id"), get("username"), get("exp" if source == "amari" else "xp"), get("level"))
    return _Fields(get("id"), get("username"), get("xp"), get("level"), get("messages"))


def _finish(parsed: Parsed, items: Iterable[tuple[int, Any]]) -> Parsed:
    first_row: dict[str, int] = {}
    for row, item in items:
        if type(item) is not dict and not isinstance(item, Mapping):
            parsed.skipped.append(Skip(row, None, "not a member entry"))
            continue
        fields = _row_fields(parsed.source, item)
        raw_id = fields.id
        if type(raw_id) is str:
            discord_id = raw_id.strip()
        else:
            discord_id = str(raw_id).strip() if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
        if not SNOWFLAKE.fullmatch(discord_id) or (len(discord_id) > 18 and int(discord_id) >= 2**63):
            parsed.skipped.append(Skip(row, _bounded(discord_id) or None, "unknown id format (not a Discord id)"))
            continue
        if discord_id in first_row:
            parsed.skipped.append(Skip(row, discord_id, f"duplicate id (first at row {first_row[discord_id]})"))
            continue
        xp, level, messages = _int(fields.xp), _int(fields.level), _int(fields.messages)
        problem = _bad_numbers(fields, xp, level, messages)
        if problem:
            parsed.skipped.append(Skip(row, discord_id, problem))
            continue
        first_row[discord_id] = row
        name = fields.username
        parsed.rows.append(
            SourceRow(
                row,
                discord_id,
                _bounded(str(name)) or None if name not in (None, "") else None,
                xp,
                level,
                messages,
                fields.progress,
                fields.bot is True,
            )
        )
    return parsed


def _bad_numbers(fields: _Fields, xp: int | None, level: int | None, messages: int | None) -> str | None:
    if (
        xp is not None
        and level is not None
        and 0 <= xp <= MAX_XP
        and 0 <= level <= MAX_LEVEL
        and (messages is None or 0 <= messages <= MAX_XP)
        and (messages is not None or fields.messages in (None, ""))
    ):
        return None  # the usual row: both numbers there and in range
    for name, raw, value in (("xp", fields.xp, xp), ("level", fields.level, level)):
        if raw not in (None, "") and value is None:
            return f"{name} is not a whole number ({_bounded(str(raw), 20)!r})"
    if xp is None and level is None:
        return "neither xp nor level"
    if xp is not None and not 0 <= xp <= MAX_XP:
        return f"xp {xp:,} is out of range (0 to {MAX_XP:,})"
    if level is not None and not 0 <= level <= MAX_LEVEL:
        return f"level {level:,} is out of range (0 to {MAX_LEVEL:,})"
    if fields.messages not in (None, "") and (messages is None or not 0 <= messages <= MAX_XP):
        return f"message count {_bounded(str(fields.messages), 20)!r} is not a count"
    return None


def _int(value: Any) -> int | None:
    if type(value) is int:  # the common case first (bool is not int's type, so it falls through)
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,12}\s*", value):
        return int(value)
    return None


def _bounded(text: str, limit: int = NAME_LIMIT) -> str:
    """Text from the file as it can be stored and shown: at most `limit` characters, clean (see _clean)."""
    return _clean(text if len(text) <= limit else text[: limit - 1] + "…")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    """NUL dropped (PostgreSQL's text cannot hold it) and a lone surrogate (JSON's "\\ud800" escape
    of half a pair; UTF-8 cannot encode it) shown as U+FFFD: either in one name failed a whole chunk."""
    if "\x00" not in text and (text.isascii() or not _UNSTORABLE.search(text)):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


# -- what an import would do -----------------------------------------------------------------

BUCKETS = ((1, 1), (2, 4), (5, 9), (10, 19), (20, 29), (30, 49), (50, 99), (100, None))


def histogram_from_counts(per_level: Mapping[int, int]) -> list[tuple[str, int]]:
    counts: Counter[int] = Counter()
    for level, n in per_level.items():
        for i, (low, high) in enumerate(BUCKETS):
            if level >= low and (high is None or level <= high):
                counts[i] += n
                break
    return [(_bucket_name(low, high), counts[i]) for i, (low, high) in enumerate(BUCKETS)]


def _bucket_name(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def mapping_table(source: Source, by: Mapping_, levels: Iterable[int] = (1, 5, 10, 20, 30, 50, 75, 100)) -> list[str]:
    """How a level there becomes XP and a level here, for a few levels."""
    lines = []
    for level in levels:
        there = CURVES[source][0](level) if source in CURVES else None
        if by == "level":
            here = our_total_for_level(max(1, level))
            lines.append(
                f"level {level:>3}"
                + (f" ({there:>9,} XP there)" if there is not None else "")
                + f" -> level {max(1, level):>3} ({here:>9,} XP here)"
            )
        elif there is not None:
            lines.append(f"level {level:>3} ({there:>9,} XP there) -> {there:>9,} XP here, level {our_level(there):>3}")
    return lines


def suggested_role_rewards(role_rewards: Iterable[tuple[int, str]]) -> str:
    """MEE6's role rewards as a `[[xp.role_rewards]]` block for conclave.toml (never applied on its own)."""
    blocks = []
    for level, role_id in sorted(role_rewards):
        if level >= 2 and SNOWFLAKE.fullmatch(role_id):
            blocks.append(f"[[xp.role_rewards]]\nlevel = {level}\nrole_id = {role_id}\n")
    return "\n".join(blocks)

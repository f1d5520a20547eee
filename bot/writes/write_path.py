"""What every batched write shares: isolating the rows the database refuses (split the batch until
they are alone, write the rest at once) and riding out outages (one warning, backoff, one recovery).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import asyncpg

from db import dead_letters
from db.faults import is_missing_row, is_outage, one_line, sqlstate

if TYPE_CHECKING:
    from bot.core.identity import Identity

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0


@dataclass
class Isolated(Generic[T]):
    """The outcome of a batch written with isolation."""

    written: list[T] = field(default_factory=list)
    refused: list[tuple[list[T], BaseException]] = field(default_factory=list)  # (one group, its error)
    kept: list[T] = field(default_factory=list)  # not written because the database went away
    outage: BaseException | None = None
    transactions: int = 0


async def write_isolating(
    items: Sequence[T],
    write: Callable[[list[T]], Awaitable[object]],
    group: Callable[[T], Hashable],
    *,
    result: Isolated[T] | None = None,
) -> Isolated[T]:
    """Write `items` with `write` (one transaction per call). When the database refuses a batch,
    split it (by group: a group's items succeed or fail together) until each refusal is one group;
    every other group is written. An outage stops the work: what is not written yet is `kept`.
    `result` (an InFlight's) is filled as the batches commit, so a stop knows what is written."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(group(item), []).append(item)
    result = Isolated() if result is None else result
    stack: list[list[list[T]]] = [list(groups.values())]
    while stack:
        chunk = stack.pop()
        batch = [item for g in chunk for item in g]
        try:
            result.transactions += 1
            await write(batch)
        except Exception as error:
            if is_outage(error):
                result.outage = error
                result.kept = batch + [item for rest in stack for g in rest for item in g]
                return result
            if len(chunk) == 1:
                result.refused.append((chunk[0], error))
            else:
                middle = len(chunk) // 2
                stack.append(chunk[middle:])
                stack.append(chunk[:middle])  # the first half is tried first
        else:
            result.written.extend(batch)
    return result


class MemberWrite(Protocol):
    """A buffered write for a member: their Discord id, the users row resolved (None: resolve it),
    and the member as Discord sees them (None when restored for someone no longer in the server)."""

    discord_id: int
    user_id: str | None
    member: Any


async def retry_with_fresh_rows(
    isolated: Isolated[Any],
    write: Callable[[list[Any]], Awaitable[object]],
    group: Callable[[Any], Hashable],
    identity: Identity,
) -> None:
    """Writes refused because the member's users row is gone (deleted behind the bot, e.g. by the
    website) are not refused for ever: the member is resolved again (a fresh row, as their next
    message would make) and their writes written once more, now or, during an outage, at the next
    flush. Only a member Discord no longer shows (restored from the journal after they left) stays
    refused, and what the database refuses again."""
    gone, refused = [], []
    for items, error in isolated.refused:
        live = is_missing_row(error) and all(i.member is not None for i in items)
        (gone if live else refused).append((items, error))
    if not gone:
        return
    isolated.refused = refused
    again = []
    for items, _ in gone:
        identity.forget(items[0].discord_id)
        for item in items:
            item.user_id = None
        again.extend(items)
    log.warning("%d member(s) had their users row deleted behind the bot: written to a fresh row", len(gone))
    if isolated.outage is not None:
        isolated.kept.extend(again)
        return
    await write_isolating(again, write, group, result=isolated)


class InFlight(Generic[T]):
    """The batch a flush is writing, for a stop that cannot wait for it: on a hung database a
    cancelled flush does not even unwind (its ROLLBACK waits for an answer that never comes), so the
    stop takes what it has not written from here and keeps it in the journal. After that the
    flush's own put-back is dropped (`abandoned`), so nothing is kept twice."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self.result: Isolated[T] | None = None
        self.abandoned = False

    def start(self, items: Sequence[T]) -> Isolated[T]:
        """`items`: what the stop must keep if this write never finishes."""
        self.items, self.result = list(items), Isolated()
        return self.result

    def done(self) -> None:
        self.items, self.result = [], None

    def abandon(self) -> list[T]:
        """The stop: what of the batch is not known to be written (a refused row is tried again at the
        next start), and no put-back from the flush from now on."""
        written = {id(i) for i in self.result.written} if self.result is not None else set()
        left = [i for i in self.items if id(i) not in written]
        self.done()
        self.abandoned = True
        return left


class Refusable(Protocol):
    """A buffered write that can be kept as a dead letter."""

    discord_id: int
    user_id: str | None

    def record(self) -> dict[str, Any]: ...


async def dead_letter(
    pool: asyncpg.Pool,
    identity: Identity,
    refused: Sequence[tuple[Sequence[Refusable], BaseException]],
    kind_of: Callable[[Refusable], str],
) -> int:
    """Keep refused writes in dead_letters with their error (one ERROR line per member; the payload
    names the users row the write was for). Once they are safe, a member whose row is gone (erased)
    is dropped from the identity cache, so their next message starts a fresh row. Raises when the
    letters cannot be written (the caller keeps the writes)."""
    letters = []
    for group, error in refused:
        member = group[0].discord_id
        log.error(
            "the database refused %d write(s) of member %s (%s); kept in dead_letters",
            len(group),
            member,
            one_line(error),
        )
        known = identity.cached(member)
        letters += [
            dead_letters.Refused(
                kind_of(item), item.record() | {"user_id": item.user_id or known}, one_line(error), sqlstate(error)
            )
            for item in group
        ]
    written = await dead_letters.record(pool, letters)
    for group, error in refused:
        if is_missing_row(error):
            identity.forget(group[0].discord_id)
    return written


class WriteHealth:
    """Whether database writes are getting through. One WARNING when they start failing, one INFO
    when they recover (how long, how much was written then), exponential backoff between tries,
    and no traceback per retry."""

    def __init__(self, name: str = "database writes") -> None:
        self.name = name
        self.down_since: float | None = None
        self.failures = 0
        self._next_try = 0.0
        self.last_error: str | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def may_try(self, now: float | None = None) -> bool:
        return (now or time.monotonic()) >= self._next_try

    def allow_now(self) -> None:
        """Try at once, whatever the backoff (the final flush at a stop)."""
        self._next_try = 0.0

    def failed(self, error: BaseException, *, kept: int = 0) -> None:
        now = time.monotonic()
        self.failures += 1
        self.last_error = one_line(error)
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self.failures - 1))
        self._next_try = now + delay
        if self.down_since is None:
            self.down_since = now
            log.warning(
                "%s are failing (%s); keeping %d pending write(s) and retrying with backoff (up to %.0f s)",
                self.name,
                self.last_error,
                kept,
                BACKOFF_MAX_S,
            )
        else:
            log.debug("%s still failing (%s); next try in %.1f s", self.name, self.last_error, delay)

    def succeeded(self, written: int) -> None:
        if self.down_since is not None:
            log.info(
                "%s recovered after %.1f s (%d failed tries)%s",
                self.name,
                time.monotonic() - self.down_since,
                self.failures,
                f"; wrote the {written} write(s) kept meanwhile" if written else "",
            )
        self.down_since = None
        self.failures = 0
        self._next_try = 0.0
        self.last_error = None

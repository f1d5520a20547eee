"""The flush schedule's own bookkeeping (bot/writes/flushes.py), with flushes that only count."""

from __future__ import annotations

from bot.writes.flushes import Flushes


def _counting(calls: list[bool]):
    async def flush(*, everything: bool = False) -> None:
        calls.append(everything)

    return flush


async def test_a_flush_run_now_is_next_due_one_interval_later_not_at_the_next_tick():
    # A command's write-now (or a test's flush_all) just wrote the buffer: the scheduler's next tick
    # must not write it again at once, taking what members said since (seen in CI: the first
    # periodic flush, still due at start-up, ran right after a flush_all and took the next message).
    schedule = Flushes(60)
    xp: list[bool] = []
    counts: list[bool] = []
    schedule.register("xp", _counting(xp))
    schedule.register("counts", _counting(counts))
    await schedule.run_all()
    await schedule.run_due()
    assert xp == [True] and counts == [True]
    await schedule.run_now({"xp"})
    await schedule.run_due()
    assert xp == [True, True] and counts == [True]


async def test_a_registered_flush_first_runs_at_the_first_tick():
    schedule = Flushes(60)
    xp: list[bool] = []
    schedule.register("xp", _counting(xp))
    await schedule.run_due()
    await schedule.run_due()
    assert xp == [False]

"""The leader lease on a real PostgreSQL: one holder at a time, the fencing token every side-effect
claim checks, a handover's successor served first, and a flapping leadership damped."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from bot.core.client import ConclaveBot
from bot.core.leadership import Leadership, Timing, describe
from db import leader, maintenance, outbox, timers
from db.leader import Fence
from db.pool import Database

GUILD = 424242424242424242


def contender(dsn: str, name: str, **timing: float) -> Leadership:
    return Leadership(Database(dsn=dsn, pool_mode="direct"), GUILD, holder=name, timing=Timing(**timing))


async def test_one_holder_at_a_time_and_a_new_token_at_each_acquisition(db_dsn, conn):
    first, second = contender(db_dsn, "first"), contender(db_dsn, "second")
    try:
        assert (await first.try_acquire()).token == 1
        assert await second.try_acquire() is None  # held: the standby waits
        await first.release()
        fence = await second.try_acquire()
        assert fence is not None and fence.token == 2
        # The first's old token is worthless now: its renewal is refused, it must stop.
        assert not (await leader.renew(conn, Fence(str(GUILD), "first", 1), 10)).held
        who, changes = describe(await leader.current(conn, str(GUILD)), await leader.history(conn, str(GUILD)))
        assert who.startswith("second since") and "(token 2)" in who
        assert [line.split()[3] for line in changes] == ["acquired", "released", "acquired"]
    finally:
        await first.close()
        await second.close()


async def test_every_claim_with_a_side_effect_checks_the_fencing_token(db_dsn, conn):
    holder = contender(db_dsn, "leader")
    try:
        fence = await holder.try_acquire()
        assert fence is not None
        await outbox.enqueue(conn, "dm", {"user_id": "1", "content": "hello"})
        await timers.schedule(conn, "reminder", datetime.now(UTC) - timedelta(seconds=1), {})
        stale = Fence(fence.guild_id, fence.holder, fence.token - 1)
        expired = Fence(fence.guild_id, "someone else", fence.token)
        for wrong in (stale, expired):
            async with conn.transaction():
                assert await outbox.claim_due(conn, wrong) is None
                assert await timers.claim_due(conn, wrong) is None
                assert not await maintenance.claim(conn, "vacuum:weekly", timedelta(days=7), wrong)
        async with conn.transaction():
            assert (await outbox.claim_due(conn, fence)).kind == "dm"
            assert (await timers.claim_due(conn, fence)).kind == "reminder"
            assert await maintenance.claim(conn, "vacuum:weekly", timedelta(days=7), fence)
        # Once the lease has lapsed (its holder partitioned away), its own token claims nothing.
        await conn.execute("UPDATE bot_leader SET expires_at = NOW() - interval '1 second'")
        async with conn.transaction():
            assert await outbox.claim_due(conn, fence) is None
            assert await timers.claim_due(conn, fence) is None
    finally:
        await holder.close()


async def test_a_lease_handed_over_goes_to_the_successor_not_to_a_standby(db_dsn, conn):
    old, standby, successor = (contender(db_dsn, n) for n in ("old", "standby", "successor"))
    try:
        fence = await old.try_acquire()
        assert await successor.request_handover() == "asked"
        assert await standby.request_handover() == "busy"  # one handover at a time: the cut stays put
        assert (await leader.renew(conn, fence, 10)).handover_to == "successor"
        # A request its asker stopped refreshing (the process died) is ignored, and replaceable.
        await conn.execute("UPDATE bot_leader SET handover_asked_at = NOW() - interval '1 minute'")
        assert (await leader.renew(conn, fence, 10)).handover_to is None
        assert await standby.request_handover() == "asked"
        assert (await leader.renew(conn, fence, 10)).handover_to == "standby"
        await conn.execute("UPDATE bot_leader SET handover_asked_at = NOW() - interval '1 minute'")
        assert await successor.request_handover() == "asked"  # the successor asks again, and is heard
        assert (await leader.renew(conn, fence, 10)).handover_to == "successor"
        assert await old.set_cut(1234)
        await old.release(event="handed_over")
        assert await standby.try_acquire() is None  # within the grace: the successor's
        taken = await successor.try_acquire(takeover=True)
        assert taken is not None and taken.token == 2
        await successor.release()
        assert await standby.request_handover() == "nobody"  # then it simply leads
        history = await leader.history(conn, str(GUILD))
        assert [(c.event, c.holder, c.detail) for c in reversed(history)] == [
            ("acquired", "old", None),
            ("handed_over", "old", None),
            ("acquired", "successor", "by handover"),
            ("released", "successor", None),
        ]
    finally:
        for c in (old, standby, successor):
            await c.close()


async def test_a_flapping_leadership_is_damped_so_failovers_cannot_burn_the_identify_budget(db_dsn, caplog):
    caplog.set_level(logging.INFO, logger="bot.core.leadership")
    damped = {"flap_free": 3, "flap_base_s": 2.0}
    a, b = contender(db_dsn, "a", **damped), contender(db_dsn, "b", **damped)
    try:
        for taker in (a, b, a):  # three leaders in a row, each gone at once (a crash loop)
            assert await taker.try_acquire() is not None
            await taker.release()
        assert await b.try_acquire() is None  # the fourth waits out 2 s * 2^(3-3) after the lease ended
        assert "leadership changed 3 times lately; waiting 2 s more" in caplog.text
        deadline = asyncio.get_running_loop().time() + 30
        while await b.try_acquire() is None:
            assert asyncio.get_running_loop().time() < deadline, "never acquired after the damping"
            await asyncio.sleep(0.2)
        assert b.fence is not None and b.fence.token == 4
        assert Timing().damping(3) == 5.0 and Timing().damping(40) == 300.0  # the defaults: 5 s doubling, 5 min cap
    finally:
        await a.close()
        await b.close()


def test_a_crash_loop_stays_far_inside_discords_identify_budget():
    """The damping rule over a simulated day: a leader that dies at once after each acquisition (its
    lease lapses 10 s later) and a standby that takes every lease as soon as the rule allows."""
    timing, acquired, now = Timing(), [], 0.0
    while now < 86_400:
        acquired.append(now)
        now += timing.ttl_s  # the lease of a leader that died at once
        now += timing.damping(sum(1 for at in acquired if at > now - timing.flap_window_s))
    per_hour = [sum(1 for at in acquired if hour * 3600 <= at < (hour + 1) * 3600) for hour in range(24)]
    assert len(acquired) < 300 and max(per_hour) <= 20  # Discord allows 1,000 IDENTIFYs a day


async def handover(old: Leadership, successor: Leadership, cut: int) -> None:
    """One planned handover (a rolling deploy's step), as the two processes make it."""
    assert await successor.request_handover() == "asked"
    assert await old.set_cut(cut)
    await old.release(event="handed_over")
    assert await successor.try_acquire(takeover=True) is not None


async def test_rolling_deploys_do_not_burn_the_damping_budget_of_a_real_failover(db_dsn):
    """Four deploys in a row (each a --takeover handover), then the leader crashes: the standby leads
    at once; the handovers were planned, not flaps (before, they counted and the standby waited)."""
    a, b, standby = contender(db_dsn, "a"), contender(db_dsn, "b"), contender(db_dsn, "standby")
    try:
        assert await a.try_acquire() is not None
        for n, (old, new) in enumerate(((a, b), (b, a), (a, b), (b, a)), start=1):
            await handover(old, new, cut=1000 * n)
        await a.release()  # the leader gone (its lease ended): an unplanned change
        fence = await standby.try_acquire()
        assert fence is not None and fence.token == 6
    finally:
        for c in (a, b, standby):
            await c.close()


async def test_a_takeover_loop_is_still_bounded_before_it_connects(db_dsn, caplog):
    """Handovers are free up to handover_free an hour; past them a --takeover waits (before its
    gateway connects, so before its IDENTIFY), doubling, as a flapping leadership does."""
    caplog.set_level(logging.INFO, logger="bot.core.leadership")
    timing = {"handover_free": 2, "handover_base_s": 1.5}
    a, b = contender(db_dsn, "a", **timing), contender(db_dsn, "b", **timing)
    try:
        assert await a.try_acquire() is not None
        assert await b.takeover_wait() == 0.0
        await handover(a, b, cut=1)
        assert await a.takeover_wait() == 0.0
        await handover(b, a, cut=2)
        assert await b.takeover_wait() == 1.5  # the third handover within the hour: 1.5 s * 2^0
        loop = asyncio.get_running_loop()
        started = loop.time()
        await b.wait_out_takeover_damping()
        assert loop.time() - started >= 1.0
        assert "2 handovers in the last hour; waiting 2 s before taking over" in caplog.text
    finally:
        await a.close()
        await b.close()


def test_a_takeover_loop_and_a_crash_loop_together_stay_inside_discords_identify_budget():
    """A simulated day of both rules at once: every takeover costs one IDENTIFY (the new process's),
    every failover one (the standby's)."""
    timing = Timing()
    takeovers: list[float] = []
    now = 0.0
    while now < 86_400:  # a deploy script gone wrong: a new --takeover as soon as the last one led
        takeovers.append(now)
        now += 1.0 + timing.handover_damping(sum(1 for at in takeovers if at > now - timing.flap_window_s))
    per_hour = [sum(1 for at in takeovers if hour * 3600 <= at < (hour + 1) * 3600) for hour in range(24)]
    crash_loop_per_day = 300  # the bound the failover damping keeps (test above)
    assert len(takeovers) < 300 and len(takeovers) + crash_loop_per_day < 1000 and max(per_hour) <= 25, (
        len(takeovers),
        max(per_hour),
    )


class _HandingBot:
    """The client's own handover state and method (ConclaveBot.hand_events_over), without a gateway."""

    hand_events_over = ConclaveBot.hand_events_over

    def __init__(self) -> None:
        self.last_handled_id = 41
        self.cut_below: int | None = None
        self.listening = True


async def test_a_cut_the_database_will_not_record_leaves_the_leader_leading_and_listening(db_dsn, conn):
    """set_cut timing out (its row locked past the statement's 2 s) raised out of the handover's task:
    the leader kept its lease but handled no event again, and was never asked to hand over again.
    Whether a timed-out cut was recorded is unknown (its answer may be what was lost), so the leader
    calls the handover off before it leads on: the row is locked until set_cut has given up, then
    freed, and the call-off is on record."""
    from bot.core import runner

    old = contender(db_dsn, "old", statement_s=0.5)
    try:
        assert await old.try_acquire() is not None
        await conn.execute("UPDATE bot_leader SET handover_to = 'successor' WHERE guild_id = $1", str(GUILD))
        old.handover_to = "successor"  # what keep() set, from that row, before calling on_handover
        bot = _HandingBot()
        lost = asyncio.get_running_loop().create_future()
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM bot_leader WHERE guild_id = $1 FOR UPDATE", str(GUILD))
            handing = asyncio.create_task(runner.hand_over(bot, old, "successor", lost))  # type: ignore[arg-type]
            await asyncio.sleep(old.timing.statement_s + 1.0)  # set_cut has timed out
            assert not handing.done()
        await handing
        assert not lost.done()
        assert (bot.listening, bot.cut_below, old.handover_to) == (True, None, None)
        lease = await conn.fetchrow("SELECT handover_to, handover_cut FROM bot_leader WHERE guild_id = $1", str(GUILD))
        assert tuple(lease) == (None, None)
        events = [r["event"] for r in await conn.fetch("SELECT event FROM bot_leader_log ORDER BY id")]
        assert events[-1] == "called_off"
    finally:
        await old.close()


class _Gateway:
    """What lead() asks of the client's gateway side; counts IDENTIFYs (discord.py's connect())."""

    def __init__(self) -> None:
        self.identified = 0
        self.ready = asyncio.Event()

    async def login(self, token: str) -> None:
        pass

    def follow(self) -> None:
        pass

    async def connect(self) -> None:
        self.identified += 1
        self.ready.set()
        await asyncio.sleep(3600)

    async def wait_until_ready(self) -> None:
        await self.ready.wait()

    def take_events_from(self, cut: int) -> None:
        pass

    async def begin_leading(self) -> None:
        pass


async def test_a_takeover_with_nobody_leading_is_damped_before_it_identifies(db_dsn, conn):
    """A crash loop of --takeover (compose's recipe restarts it): with nobody leading it connected
    its gateway (an IDENTIFY) before the damping of unplanned acquisitions held it back."""
    from bot.core import runner

    await conn.execute(
        """INSERT INTO bot_leader (guild_id, holder, token, acquired_at, renewed_at, expires_at)
           VALUES ($1, 'crashed', 10, NOW() - interval '20 s', NOW() - interval '11 s', NOW() - interval '1 s')""",
        str(GUILD),
    )
    for token in range(1, 11):  # ten unplanned acquisitions in the hour: the damping says 300 s
        await conn.execute(
            "INSERT INTO bot_leader_log (guild_id, holder, token, event) VALUES ($1, 'crashed', $2, 'acquired')",
            str(GUILD),
            token,
        )
    new = contender(db_dsn, "new")
    gateway = _Gateway()
    lost = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(runner.lead(gateway, new, "t", takeover=True, lost=lost))  # type: ignore[arg-type]
    try:
        await asyncio.sleep(2.0)
        assert new.fence is None  # damped: it does not lead
        assert gateway.identified == 0  # and has not identified either
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await new.close()


async def test_a_handover_is_either_taken_or_called_off_never_both(db_dsn, conn):
    """The successor takes its cut (a compare-and-set on the cut it learnt) and the old leader calls
    the handover off (only while it is not taken): whichever comes first wins, the other is refused;
    taking again after a lost answer is still True, and a called-off cut can no longer be taken."""
    for first in ("take", "call off"):
        await conn.execute("DELETE FROM bot_leader")  # the first round's lease, handed to "new"
        old, new = contender(db_dsn, "old"), contender(db_dsn, "new")
        try:
            assert await old.try_acquire() is not None
            assert await new.request_handover() == "asked"
            assert await old.set_cut(5000)
            assert False is await new.take_cut(4999, within=0)  # not the cut the leader chose
            assert await conn.fetchval("SELECT handover_taken_at FROM bot_leader") is None
            old.handover_to = "new"  # what keep() set before handing over
            if first == "take":
                assert True is await new.take_cut(5000, within=0)
                assert True is await new.take_cut(5000, within=0)  # asked again: the same answer
                assert await old.call_off_handover("new") is False
                assert await old.cut_taken()
                await old.release(event="handed_over")
                assert True is await new.take_cut(5000, within=0)  # its answer lost until the lease was released
                assert await new.try_acquire(takeover=True) is not None
            else:
                assert await old.call_off_handover("new") is True
                assert await old.call_off_handover("new") is True  # asked again after a lost answer
                assert False is await new.take_cut(5000, within=0)
                assert await conn.fetchval("SELECT handover_taken_at FROM bot_leader") is None
                assert not await old.cut_taken() and old.handover_to is None
                events = [r["event"] for r in await conn.fetch("SELECT event FROM bot_leader_log ORDER BY id")]
                assert events[-1:] == ["called_off"] and events.count("called_off") == 1
                assert await new.request_handover() == "asked"  # asked again, it is a new handover
        finally:
            await old.release()
            for c in (old, new):
                await c.close()


async def test_a_take_the_database_leaves_unanswered_is_unknown_not_called_off(db_dsn, conn):
    """The successor's take timing out (the lease row locked past its statement's bound) was read as
    "called off": it exited saying so while its write could still land, and the old leader, seeing
    the cut taken, stopped, leaving nobody leading. Unknown is its own answer; asked again, it holds."""
    old, new = contender(db_dsn, "old"), contender(db_dsn, "new", statement_s=0.3)
    try:
        assert await old.try_acquire() is not None
        assert await new.request_handover() == "asked"
        assert await old.set_cut(7000)
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM bot_leader WHERE guild_id = $1 FOR UPDATE", str(GUILD))
            assert await new.take_cut(7000, within=1.0) is None
        assert await new.take_cut(7000, within=1.0) is True
    finally:
        for c in (old, new):
            await c.close()


async def test_a_called_off_handover_counts_toward_the_takeover_damping(db_dsn):
    """A successor whose handover is called off exits and is restarted: each attempt spends an
    IDENTIFY, and none ended in an acquisition, so a stalled host's restart loop was never damped."""
    old, new = contender(db_dsn, "old"), contender(db_dsn, "new")
    try:
        assert await old.try_acquire() is not None
        for cut in (1000, 2000, 3000):
            assert await new.request_handover() == "asked"
            assert await old.set_cut(cut)
            old.handover_to = "new"
            assert await old.call_off_handover("new") is True
        assert await new.recent_handovers() == 3
        assert new.timing.handover_damping(new.timing.handover_free + 1) > 0  # past the free ones it waits
    finally:
        for c in (old, new):
            await c.close()


async def test_a_successor_that_stalled_past_its_grace_after_taking_its_cut_gives_the_lease_up(db_dsn):
    """Taken, but slow to acquire: past the lease's grace for it a standby may lead, and the successor
    (which waited for the lease for ever, answering interactions from its cut on) must stop."""
    fast = {"handover_grace_s": 0.3}
    old, new, standby = (
        contender(db_dsn, "old", **fast),
        contender(db_dsn, "new", **fast),
        contender(db_dsn, "sb", **fast),
    )
    try:
        assert await old.try_acquire() is not None
        assert await new.request_handover() == "asked"
        assert await old.set_cut(9000)
        assert True is await new.take_cut(9000, within=0)
        await old.release(event="handed_over")
        await asyncio.sleep(0.5)  # the successor stalls past the grace
        assert False is await new.take_cut(9000, within=0)  # no longer this process's alone
        assert await standby.try_acquire() is not None
        assert await asyncio.wait_for(new.lease_after_take(), 5) is None
    finally:
        for c in (old, new, standby):
            await c.close()

"""A leader that cannot renew its lease (here: its renewals really wait on a row lock another session
holds, and fail) fences itself: it stops answering, closes its gateway and exits before the lease
expires, so before any standby could take over; the standby then leads (README "Standby and
failover")."""

from __future__ import annotations

import asyncio
import signal

import asyncpg

from tests.processes import Processes, eventually, leads, standing_by


async def test_a_leader_that_cannot_renew_stops_before_the_standby_can_take_over(db_dsn, tmp_path):
    async with Processes(tmp_path, db_dsn) as world:
        first = world.start_bot("first")
        await leads(world, first)
        second = world.start_bot("second")
        await eventually(lambda: standing_by(second), what="the standby waiting")
        status, _ = await world.slash("alice", "about")
        assert status == 200

        # Right after a renewal, another session locks the lease row: every renewal of the leader
        # waits on it, hits its lock_timeout and fails, as over a partition.
        renewed = await world.fetchval("SELECT renewed_at FROM bot_leader")

        async def renewed_again() -> bool:
            return await world.fetchval("SELECT renewed_at FROM bot_leader") != renewed

        await eventually(renewed_again, what="a renewal")
        blocker = await asyncpg.connect(db_dsn)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("SELECT 1 FROM bot_leader FOR UPDATE")
            # Meanwhile a moderator bans someone for 7 s: answered and delivered by the leader, which
            # still leads; the expiry falls due after the leader fenced itself, before the lease ends.
            status, reply = await world.slash("mod", "mod ban", member="carol", reason="flooding", duration="7s")
            assert status == 200 and reply["content"] == "Case #1: ban carol (7s).", reply

            async def gateway_closed() -> bool:
                return (await world.state())["connected"] == 0

            await eventually(gateway_closed, timeout=30, what="the leader fencing itself")
            # It stopped touching Discord while its lease still had time to run: no standby could lead yet.
            lease = await blocker.fetchrow("SELECT holder, token, expires_at > NOW() AS unexpired FROM bot_leader")
            await transaction.rollback()
        finally:
            await blocker.close()
        assert first.popen.wait(20) == 3, first.log[-3000:]
        assert "the lease could not be renewed for 6 s: fencing" in first.log
        assert "lost the leadership" in first.log
        assert lease["unexpired"] and lease["token"] == 1 and lease["holder"].split(":")[1] == str(first.pid)
        state = await world.state()
        assert state["connected"] == 0 and [e for e, _ in state["gateway_log"]] == ["identify", "closed"]
        assert not second.says("this process leads")

        # Between the fence and the takeover nobody answers (no gateway is open): never two.
        status, _ = await world.slash("bob", "about", timeout=1.0)
        assert status == 504

        await leads(world, second, timeout=60)
        status, about = await world.slash("bob", "about")
        assert status == 200 and "Conclave" in about["text"], about
        changes = await world.fetch("SELECT event, token, at FROM bot_leader_log ORDER BY id")
        assert [(c["event"], c["token"]) for c in changes] == [("acquired", 1), ("fenced", 1), ("acquired", 2)]
        assert changes[1]["at"] < changes[2]["at"]
        state = await world.state()
        assert [e for e, _ in state["gateway_log"]] == ["identify", "closed", "identify"]
        interactions = (await world.get("interactions"))["interactions"]
        assert [i["answered"] for i in interactions] == [True, True, False, True]

        # The ban's expiry, due while the old leader was fenced, was not fired by it: the new leader
        # fired it, once, after it acquired the lease.
        async def lifted() -> bool:
            return bool((await world.get("calls", method="DELETE", path="/bans/"))["calls"])

        await eventually(lifted, timeout=30, what="the ban lifted")
        timer = await world.fetch("SELECT status, attempts, done_at FROM timers WHERE kind = 'sanction_expiry'")
        assert [(t["status"], t["attempts"]) for t in timer] == [("done", 1)]
        assert timer[0]["done_at"] > changes[2]["at"]
        assert len((await world.get("calls", method="DELETE", path="/bans/"))["calls"]) == 1
        assert second.stop() == 0


async def test_a_leader_frozen_past_its_lease_acts_on_nothing_when_it_wakes(db_dsn, tmp_path):
    """SIGSTOP (a frozen VM or container) for longer than the lease: the standby leads; the old leader,
    woken, reads what its socket kept meanwhile (the same commands and chat the new leader handled)
    and acts on none of it, then fences itself and exits."""
    async with Processes(tmp_path, db_dsn) as world:
        first = world.start_bot("first")
        await leads(world, first)
        second = world.start_bot("second")
        await eventually(lambda: standing_by(second), what="the standby waiting")
        first.popen.send_signal(signal.SIGSTOP)
        try:
            await leads(world, second, timeout=60)
            # Both gateways are open now (the frozen one's socket keeps what it is sent).
            assert (await world.state())["connected"] == 2
            status, about = await world.slash("bob", "about")
            assert status == 200 and "Conclave" in about["text"]
            for n in range(3):
                await world.say("alice", f"alice's message number {n} while the old leader sleeps")
        finally:
            first.popen.send_signal(signal.SIGCONT)
        assert first.popen.wait(30) == 3, first.log[-3000:]
        assert "fencing" in first.log
        status, about = await world.slash("carol", "about")
        assert status == 200
        interactions = await world.get("interactions")
        assert [i["answered"] for i in interactions["interactions"]] == [True, True]
        assert interactions["refused_second_acks"] == 0  # the woken leader answered nothing again
        assert second.stop() == 0
        counted = await world.fetchval(
            "SELECT p.message_count FROM user_profiles p JOIN users u ON u.id = p.user_id WHERE u.username = 'alice'"
        )
        assert counted == 3  # counted by the new leader only


IN_FLIGHT = """SELECT pid FROM pg_stat_activity
               WHERE state = 'idle in transaction' AND query LIKE '%FROM outbox%FOR UPDATE SKIP LOCKED%'"""


async def test_a_leader_that_lost_its_lease_between_claim_and_send_does_not_send(db_dsn, tmp_path):
    """The fence is checked right before the Discord call, not only when the item is claimed: the
    leader claims a warning's DM, Discord is slow to open the DM channel, the leader freezes (SIGSTOP)
    and its database connection is lost meanwhile; the standby leads and sends the DM; the old
    leader, woken with Discord's answer in its socket, must not send it a second time."""
    async with Processes(tmp_path, db_dsn) as world:
        first = world.start_bot("first")
        await leads(world, first)
        second = world.start_bot("second")
        await eventually(lambda: standing_by(second), what="the standby waiting")
        await world.post("delay", {"method": "POST", "path": "/users/@me/channels", "seconds": 3})
        status, reply = await world.slash("mod", "mod warn", member="carol", reason="flooding")
        assert status == 200 and "warn carol" in reply["content"], reply

        async def delivering() -> bool:
            return bool(await world.fetch(IN_FLIGHT))

        await eventually(delivering, timeout=20, what="the leader delivering the DM")
        first.popen.send_signal(signal.SIGSTOP)
        try:
            # The frozen leader's database session is gone (the item's lock with it), as over a partition.
            for row in await world.fetch(IN_FLIGHT):
                await world.fetch("SELECT pg_terminate_backend($1)", row["pid"])
            await leads(world, second, timeout=60)

            async def dms_to_carol() -> int:
                return sum(1 for d in (await world.get("dms"))["dms"] if d["to"] == "carol")

            async def delivered() -> bool:
                return await dms_to_carol() == 1

            await eventually(delivered, timeout=30, what="the new leader sending the DM")
        finally:
            first.popen.send_signal(signal.SIGCONT)
        assert first.popen.wait(30) == 3, first.log[-3000:]
        await asyncio.sleep(1)  # anything the woken leader sent has reached the stand-in
        assert await dms_to_carol() == 1, (await world.get("dms"))["dms"]
        assert "not sent: this process no longer leads" in first.log
        rows = await world.fetch("SELECT status, attempts FROM outbox WHERE kind = 'dm'")
        assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)]
        assert second.stop() == 0

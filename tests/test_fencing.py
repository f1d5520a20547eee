"""A leader that cannot renew its lease (here: its renewals really wait on a row lock another session
holds, and fail) fences itself: it stops answering, closes its gateway and exits before the lease
expires, so before any standby could take over; the standby then leads (README "Standby and
failover")."""

from __future__ import annotations

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

            async def exited() -> bool:
                return first.popen.poll() is not None

            await eventually(exited, timeout=30, what="the leader fencing itself")
            # It stopped while its lease still had time to run: no standby could have led yet.
            lease = await blocker.fetchrow("SELECT holder, token, expires_at > NOW() AS unexpired FROM bot_leader")
            await transaction.rollback()
        finally:
            await blocker.close()
        assert first.popen.returncode == 3, first.log[-3000:]
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
        assert [i["answered"] for i in interactions] == [True, False, True]
        assert second.stop() == 0

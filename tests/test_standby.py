"""Two `python -m bot run` against one database: one leads, the other stands by warm without ever
opening Discord's gateway, and leads when the first stops (README "Standby and failover")."""

from __future__ import annotations

import subprocess
import sys

from tests.pgbouncer import free_port
from tests.processes import Processes, eventually, leads, standing_by


async def test_a_second_process_stands_by_without_a_gateway_session_and_leads_when_the_first_stops(db_dsn, tmp_path):
    async with Processes(tmp_path, db_dsn) as world:
        ports = free_port(), free_port()
        first = world.start_bot("first", metrics_port=ports[0])
        await leads(world, first)
        second = world.start_bot("second", metrics_port=ports[1])

        await eventually(lambda: standing_by(second), what="the second process standing by")
        # Warm: the second process opened the database, checked the migrations, loaded every cog
        # and logged in over REST before it stood by...
        assert second.log.index("database: external") < second.log.index("standby: another process leads")
        # ... and touched no gateway: one IDENTIFY, one session, the first's.
        await world.say("alice", "hello from alice")
        await world.say("bob", "bob says hi")
        status, about = await world.slash("alice", "about")
        assert status == 200 and "Conclave" in about["text"], about
        state = await world.state()
        assert state["identifies"] == 1 and state["connected"] == 1, state
        assert [event for event, _ in state["gateway_log"]] == ["identify"]
        assert not second.says("this process leads")
        assert await world.metric(ports[0], "conclave_leader") == 1.0  # the leader
        assert await world.metric(ports[1], "conclave_leader") == 0.0  # the standby
        answered = await world.get("interactions")
        assert [i["answered"] for i in answered["interactions"]] == [True]
        assert answered["refused_second_acks"] == 0

        # The leader stops (a deploy without --takeover, a reboot): it releases the lease, the
        # standby leads at once and answers.
        assert first.stop() == 0
        assert "stopped cleanly" in first.log
        await leads(world, second)
        assert await world.metric(ports[1], "conclave_leader") == 1.0
        status, about = await world.slash("bob", "about")
        assert status == 200 and "Conclave" in about["text"], about
        state = await world.state()
        assert state["identifies"] == 2 and [e for e, _ in state["gateway_log"]] == ["identify", "closed", "identify"]
        changes = await world.fetch("SELECT event, holder FROM bot_leader_log ORDER BY id")
        assert [c["event"] for c in changes] == ["acquired", "released", "acquired"]
        assert changes[0]["holder"] != changes[2]["holder"]

        # Staff see who leads, since when, and the last changes, in /about and in doctor.
        status, about = await world.slash("mod", "about")
        fields = {f["name"]: f["value"] for f in about["embeds"][0]["fields"]}
        assert fields["Leader"].startswith(f"{changes[2]['holder']} since") and "(token 2)" in fields["Leader"]
        assert f"released by {changes[0]['holder']} (token 1)" in fields["Last leadership changes"]
        env = {**world.env, "DATABASE_URL": db_dsn, "CONCLAVE_DATA_DIR": str(tmp_path / "second")}
        doctor = subprocess.run(
            [sys.executable, "-m", "bot", "doctor"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        line = next(x for x in doctor.stdout.splitlines() if x.startswith("leader:"))
        assert f"leader: {changes[2]['holder']} since" in line, doctor.stdout
        assert f"acquired by {changes[0]['holder']} (token 1)" in doctor.stdout

        # A standby stopped while it waits stops cleanly and leaves the lease alone.
        third = world.start_bot("third")
        await eventually(lambda: standing_by(third), what="a third process standing by")
        assert third.stop() == 0 and "stopped cleanly" in third.log
        assert await world.leader() == changes[2]["holder"]
        assert (await world.state())["identifies"] == 2
        assert second.stop() == 0

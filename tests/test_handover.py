"""A planned handover (`python -m bot run --takeover`) under chat and commands: the new process
connects and warms up, the leader hands over at a cut, and every interaction is answered (once),
every message counted (once) (README "Standby and failover")."""

from __future__ import annotations

import asyncio

import pytest

from tests.processes import Processes, eventually, leads

COUNTED = "SELECT coalesce(sum(message_count), 0) FROM user_profiles"


# Discord's clock (the ids it makes) against the bot hosts' clocks: the cut must depend on neither.
@pytest.mark.parametrize("skew", [0.0, 30.0, -30.0], ids=["clocks agree", "discord ahead", "discord behind"])
async def test_a_takeover_leaves_no_interaction_unanswered_and_counts_every_message_once(db_dsn, tmp_path, skew):
    async with Processes(tmp_path, db_dsn, members=20, clock_skew=skew) as world:
        old = world.start_bot("old")
        await leads(world, old)
        await world.say("alice", "before the deploy")

        answers: list[tuple[int, object]] = []
        commanding = True

        async def members_use_commands() -> None:
            turn = 0
            while commanding:
                who = ("alice", "bob", "carol")[turn % 3]
                answers.append(await world.slash(who, "about", timeout=5.0))
                turn += 1
                await asyncio.sleep(0.05)

        commands = [asyncio.create_task(members_use_commands()) for _ in range(3)]
        await world.post("stream", {"rate": 25, "seconds": 15})
        await asyncio.sleep(1)
        new = world.start_bot("new", "--takeover")
        try:
            await leads(world, new, timeout=90)
            await asyncio.sleep(1.5)  # commands go on after the handover too
        finally:
            commanding = False
            await asyncio.gather(*commands)

        assert old.popen.wait(20) == 0, old.log[-3000:]
        assert "stopped cleanly" in old.log
        assert answers and all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200]
        interactions = await world.get("interactions")
        assert all(i["answered"] for i in interactions["interactions"])
        assert interactions["refused_second_acks"] == 0  # nobody answered one twice
        assert len(interactions["interactions"]) == len(answers)

        # The new process connected before the old one left (no gap), one IDENTIFY each.
        state = await world.state()
        events = [e for e, _ in state["gateway_log"]]
        assert state["identifies"] == 2 and events == ["identify", "identify", "closed"], events
        changes = await world.fetch("SELECT event, token, detail FROM bot_leader_log ORDER BY id")
        assert [(c["event"], c["token"]) for c in changes] == [("acquired", 1), ("handed_over", 1), ("acquired", 2)]
        assert changes[2]["detail"] == "by handover"
        # The new process ran its member sync (a job with side effects) once it led, not before.
        syncs = await world.fetch("SELECT started_at FROM discord_sync_log WHERE sync_type = 'members' ORDER BY 1")
        acquired = await world.fetchval("SELECT at FROM bot_leader_log WHERE event = 'acquired' AND token = 2")
        assert len(syncs) == 2 and syncs[1]["started_at"] >= acquired, (syncs, acquired)

        # Every message of the stream is counted, by exactly one of the two processes.
        async def stream_done() -> bool:
            return (await world.get("stream"))["done"]

        await eventually(stream_done, timeout=40, what="the chat stream")
        sent = (await world.get("stream"))["sent"] + 1
        assert new.stop() == 0  # its final flush writes what it counted
        assert await world.fetchval(COUNTED) == sent


async def test_a_takeover_with_nobody_leading_simply_leads(db_dsn, tmp_path):
    async with Processes(tmp_path, db_dsn) as world:
        only = world.start_bot("only", "--takeover")
        await leads(world, only)
        status, about = await world.slash("alice", "about")
        assert status == 200 and "Conclave" in about["text"], about
        state = await world.state()
        assert state["identifies"] == 1 and state["connected"] == 1
        changes = await world.fetch("SELECT event, detail FROM bot_leader_log ORDER BY id")
        assert [(c["event"], c["detail"]) for c in changes] == [("acquired", "takeover")]
        assert only.stop() == 0

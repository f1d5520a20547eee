"""What members and moderators do in Discord itself (not through the bot) in the moment of a planned
handover. Only interactions and messages are cut by id; every other event (a ban by hand, a join, a
departure, a role, voice, interest in a scheduled event) must reach a process that handles it when
it comes after the old leader chose its cut and before the successor took it, and be handled once
when both gateways deliver it to processes that both listen (README "Standby and failover")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.core.client import HANDOVER_GRACE_S
from bot.core.community import DEFAULT_PATHWAY_NAMES
from bot.core.runner import TEST_GATES
from tests.processes import BotProcess, Processes, eventually, leads

GAMING = DEFAULT_PATHWAY_NAMES["gaming"]

# After the old leader chose the cut, before the successor took it.
IN_THE_WINDOW: list[dict[str, Any]] = [
    {"action": "ban", "member": "bob", "by": "mod", "reason": "spam"},
    {"action": "join", "member": "dave"},
    {"action": "leave", "member": "carol"},
    {"action": "give_role", "member": "alice", "role": GAMING},
    {"action": "take_role", "member": "member000001", "role": GAMING},
    {"action": "voice", "member": "member000000", "channel": "Lounge"},
    {"action": "voice", "member": "member000001", "channel": "Lounge"},
    {"action": "interested", "member": "alice", "event": "Game night"},
]
# Once the successor took its cut, while the old leader's gateway is still open.
BOTH_LISTENING: list[dict[str, Any]] = [
    {"action": "ban", "member": "member000003", "by": "mod", "reason": "raid"},
    {"action": "unban", "member": "bob", "by": "mod", "reason": "appeal"},
    {"action": "join", "member": "erin"},
    {"action": "leave", "member": "member000002"},
    {"action": "give_role", "member": "member000004", "role": GAMING},
    {"action": "interested", "member": "member000004", "event": "Game night"},
]


def saying(*said: tuple[BotProcess, str]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        for bot, _ in said:
            assert bot.popen.poll() is None, f"{bot.name} exited ({bot.popen.returncode}):\n{bot.log[-3000:]}"
        return all(bot.says(text) for bot, text in said)

    return check


async def handover_held_at_the_cut(
    world: Processes, gates: Path, *, old_waits: bool, before: Callable[[], Awaitable[None]] | None = None
) -> tuple[BotProcess, BotProcess]:
    """A leader with a scheduled event mirrored in Discord ("Game night"), and a --takeover held at
    the test's gate "cut" once the leader has chosen it (`old_waits`: the old leader holds at
    "grace" too)."""
    await world.fetch(
        "INSERT INTO events (title, type, start_date) VALUES ('Game night', 'gaming', NOW() + interval '2 days')"
    )
    old = world.start_bot("old", env={TEST_GATES: str(gates)} if old_waits else None)
    await leads(world, old)

    async def mirrored() -> bool:
        return await world.fetchval("SELECT discord_event_id FROM events") is not None

    await eventually(mirrored, what="the event mirrored as a Discord scheduled event")
    if before is not None:
        await before()
    new = world.start_bot("new", "--takeover", env={TEST_GATES: str(gates)})
    window = saying((old, "handing over to"), (new, f"waiting for {gates / 'cut'}"))
    await eventually(window, timeout=90, what="the handover's window")
    return old, new


async def test_what_is_done_in_discord_during_a_handover_reaches_the_bot_once(db_dsn, tmp_path):
    gates = tmp_path / "gates"
    gates.mkdir()
    async with Processes(tmp_path, db_dsn, members=5) as world:
        roles = (await world.state())["roles"]
        pathways = "".join(
            f"[[pathways]]\nid = '{pid}'\nname = '{name}'\n" + (f"role_id = {roles[name]}\n" if name == GAMING else "")
            for pid, name in DEFAULT_PATHWAY_NAMES.items()
        )
        config = tmp_path / "conclave.toml"
        config.write_text(config.read_text() + pathways)

        async def member000001_joins_gaming() -> None:
            status, answer = await world.post(
                "by-hand", {"action": "give_role", "member": "member000001", "role": GAMING}
            )
            assert status == 200, answer

            async def joined() -> bool:
                return await world.fetchval("SELECT pathways ? 'gaming' FROM users WHERE username = 'member000001'")

            await eventually(joined, timeout=30, what="member000001 in the gaming pathway")

        old, new = await handover_held_at_the_cut(world, gates, old_waits=True, before=member000001_joins_gaming)
        for body in IN_THE_WINDOW:
            status, answer = await world.post("by-hand", body)
            assert status == 200, answer
        (gates / "cut").touch()
        both = saying(
            (new, "handling interactions and messages from snowflake"), (old, f"waiting for {gates / 'grace'}")
        )
        await eventually(both, timeout=30, what="both processes past the cut")
        for body in BOTH_LISTENING:
            status, answer = await world.post("by-hand", body)
            assert status == 200, answer
        await asyncio.sleep(2)  # both handle what they were sent
        (gates / "grace").touch()
        await leads(world, new)
        assert old.popen.wait(20) == 0, old.log[-3000:]

        # Two members in voice since the window: the new leader credits their minutes (a minute on).
        async def voice_credited() -> bool:
            minutes = await world.fetch(
                """SELECT u.username FROM user_profiles p JOIN users u ON u.id = p.user_id
                    WHERE u.username IN ('member000000', 'member000001') AND p.voice_minutes > 0"""
            )
            return len(minutes) == 2

        await eventually(voice_credited, timeout=150, what="voice minutes for the two members in the Lounge")
        assert new.stop() == 0

        cases = await world.fetch(
            """SELECT u.username, l.action, l.reason FROM moderation_logs l JOIN users u ON u.id = l.target_user_id
                ORDER BY l.id"""
        )
        members = {
            r["username"]: r["in_server"]
            for r in await world.fetch(
                "SELECT username, in_server FROM users WHERE username IN ('carol', 'dave', 'erin', 'member000002')"
            )
        }
        analytics = await world.fetch(
            """SELECT u.username, a.event_type FROM analytics a JOIN users u ON u.id = a.user_id
                WHERE a.event_type IN ('member_join', 'member_leave', 'pathway_join') ORDER BY 1, 2"""
        )
        in_gaming = await world.fetch("SELECT username FROM users WHERE pathways ? 'gaming' ORDER BY 1")
        offers = [d["to"] for d in (await world.get("dms"))["dms"] if "Game night" in str(d["embeds"])]

        outcome = {
            "cases": sorted((c["username"], c["action"], c["reason"]) for c in cases),
            "members": members,
            "analytics": [(a["username"], a["event_type"]) for a in analytics],
            "in gaming": [r["username"] for r in in_gaming],
            "offers": sorted(offers),
            "roles given by the bot": len((await world.get("calls", method="PUT", path="/roles/"))["calls"]),
        }
        assert outcome == {
            "cases": [
                ("bob", "ban", "banned in Discord: spam"),
                ("bob", "unban", "unbanned in Discord (case #1)"),  # no audit log: no reason
                ("member000003", "ban", "banned in Discord: raid"),
            ],
            "members": {"carol": False, "dave": True, "erin": True, "member000002": False},
            "analytics": [
                ("alice", "pathway_join"),
                ("bob", "member_leave"),  # a ban removes the member too
                ("carol", "member_leave"),
                ("dave", "member_join"),
                ("erin", "member_join"),
                ("member000001", "pathway_join"),  # before the handover, once
                ("member000002", "member_leave"),
                ("member000003", "member_leave"),
                ("member000004", "pathway_join"),
            ],
            "in gaming": ["alice", "member000004"],
            "offers": ["alice", "member000004"],
            "roles given by the bot": 0,  # member000001's, taken by hand, not given back
        }


async def test_a_successor_slow_to_take_its_cut_still_misses_nothing_done_in_discord(db_dsn, tmp_path):
    """The old leader handles what is done in Discord until the successor says it took its cut, not
    for a fixed second: a successor stalled past that second (a busy host) left a gap between them."""
    gates = tmp_path / "gates"
    gates.mkdir()
    async with Processes(tmp_path, db_dsn) as world:
        old, new = await handover_held_at_the_cut(world, gates, old_waits=False)
        await asyncio.sleep(2 * HANDOVER_GRACE_S)  # the successor stalls past the old leader's grace
        for body in (
            {"action": "join", "member": "dave"},
            {"action": "interested", "member": "alice", "event": "Game night"},
        ):
            status, answer = await world.post("by-hand", body)
            assert status == 200, answer
        (gates / "cut").touch()
        await leads(world, new)
        assert old.popen.wait(20) == 0, old.log[-3000:]

        async def offered() -> bool:
            return any("Game night" in str(d["embeds"]) for d in (await world.get("dms"))["dms"])

        try:
            await eventually(offered, timeout=30, what="alice's offer to register for Game night")
        except AssertionError as missing:
            raise AssertionError(f"{missing}\nold:\n{old.log[-3000:]}\nnew:\n{new.log[-3000:]}") from None
        assert new.stop() == 0
        offers = [d["to"] for d in (await world.get("dms"))["dms"] if "Game night" in str(d["embeds"])]
        joins = await world.fetch(
            """SELECT a.event_action FROM analytics a JOIN users u ON u.id = a.user_id
                WHERE u.username = 'dave' AND a.event_type = 'member_join'"""
        )
        assert (offers, [j["event_action"] for j in joins]) == (["alice"], ["new"])


async def test_a_successor_that_dies_before_taking_its_cut_leaves_the_old_leader_leading(db_dsn, tmp_path):
    """The successor learns its cut and is killed before it takes it: the old leader calls the
    handover off and leads on (it stopped, and nobody led until someone started the bot again), and
    a later --takeover is handed over to as usual."""
    gates = tmp_path / "gates"
    gates.mkdir()
    async with Processes(tmp_path, db_dsn) as world:
        old, new = await handover_held_at_the_cut(world, gates, old_waits=False)
        new.kill()
        called_off = saying((old, "called off, this process leads on"))
        await eventually(called_off, timeout=60, what="the old leader calling the handover off")
        assert old.popen.poll() is None, old.log[-3000:]
        await leads(world, old)
        status, about = await world.slash("alice", "about")  # answered: every interaction is its own again
        assert status == 200 and "Conclave" in about["text"], about
        lease = await world.fetch("SELECT handover_to, handover_cut, handover_taken_at FROM bot_leader")
        assert [tuple(r) for r in lease] == [(None, None, None)]
        later = world.start_bot("later", "--takeover")
        await leads(world, later)
        assert old.popen.wait(20) == 0, old.log[-3000:]
        status, about = await world.slash("alice", "about")
        assert status == 200 and "Conclave" in about["text"], about
        assert later.stop() == 0


async def test_a_successor_stalled_past_the_call_off_takes_nothing_and_stops_saying_why(db_dsn, tmp_path):
    """Stalled at its cut until the old leader called the handover off, the successor finds it
    called off: it handles nothing, says why in one line and exits 1 (asking again at once would
    leave interactions unanswered for seconds each time), and the old leader leads on."""
    gates = tmp_path / "gates"
    gates.mkdir()
    async with Processes(tmp_path, db_dsn) as world:
        old, new = await handover_held_at_the_cut(world, gates, old_waits=False)
        await eventually(saying((old, "called off, this process leads on")), timeout=60, what="the call-off")
        (gates / "cut").touch()
        assert new.popen.wait(30) == 1, new.log[-3000:]
        assert new.says("the leader called the handover off"), new.log[-3000:]
        await leads(world, old)
        status, about = await world.slash("alice", "about")
        assert status == 200 and "Conclave" in about["text"], about
        interactions = (await world.get("interactions"))["interactions"]
        assert interactions[-1]["answered"] and (await world.get("interactions"))["refused_second_acks"] == 0
        assert old.stop() == 0

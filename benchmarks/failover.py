"""How long the community is without a bot: kill -9 of the leader with a standby waiting, then a
planned handover (`python -m bot run --takeover`) under commands and chat.

    python benchmarks/failover.py [--trials 3]

The stand-in and every bot process (`python -m bot run`) run as separate processes on an embedded
PostgreSQL this script owns. A member runs /about every 0.2 s throughout (three at a time during the
handover). Prints, per trial: for the failover, from the kill to the standby's acquisition of the
lease, from the lease's expiry to it (the bound: 15 s), and from the kill to the first command
answered again; for the handover, the longest any interaction waited for its answer (Discord allows
3 s) and how many went unanswered.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.pool import open_database, recreate_database  # noqa: E402
from tests.processes import Processes, eventually, leads, standing_by  # noqa: E402


async def probe(world: Processes, until: asyncio.Event, answered_at: list[float], who: str = "alice") -> None:
    while not until.is_set():
        status, _ = await world.slash(who, "about", timeout=3.0)
        if status == 200:
            answered_at.append(time.time())
        await asyncio.sleep(0.2)


async def failover(world: Processes) -> tuple[float, float, float]:
    first = world.start_bot("first")
    await leads(world, first)
    second = world.start_bot("second")
    await eventually(lambda: standing_by(second), what="standby")
    done, answered = asyncio.Event(), []
    prober = asyncio.create_task(probe(world, done, answered))
    await asyncio.sleep(1.0)
    killed = time.time()
    first.kill()
    expiry = (await world.fetchval("SELECT extract(epoch FROM expires_at) FROM bot_leader")) or 0.0
    await leads(world, second, timeout=60)
    acquired = await world.fetchval("SELECT extract(epoch FROM acquired_at) FROM bot_leader")
    await eventually(lambda: _async(any(t > killed for t in answered)), timeout=30, what="an answer after the kill")
    done.set()
    await prober
    again = min(t for t in answered if t > killed)
    assert second.stop() == 0
    return float(acquired) - killed, float(acquired) - float(expiry), again - killed


async def handover(world: Processes) -> tuple[float, int, int]:
    old = world.start_bot("old")
    await leads(world, old)
    await world.post("stream", {"rate": 50, "seconds": 20})
    done, answered = asyncio.Event(), []
    probers = [asyncio.create_task(probe(world, done, answered, who)) for who in ("alice", "bob", "carol")]
    await asyncio.sleep(1.0)
    new = world.start_bot("new", "--takeover")
    await leads(world, new, timeout=90)
    await asyncio.sleep(1.0)
    done.set()
    await asyncio.gather(*probers)
    assert old.popen.wait(20) == 0
    interactions = (await world.get("interactions"))["interactions"]
    waits = [i["response_ms"] for i in interactions if i["response_ms"] is not None]
    unanswered = sum(1 for i in interactions if not i["answered"])
    assert new.stop() == 0
    return max(waits) / 1000, unanswered, len(interactions)


async def _async(value: bool) -> bool:
    return value


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-failover-") as tmp_name:
        tmp = Path(tmp_name)
        database = await open_database(None, tmp / "data", name="failover")
        takeovers, handovers = [], []
        try:
            for number in range(1, args.trials + 1):
                trial = tmp / f"trial-{number}"
                trial.mkdir()
                to_lead, after_expiry, to_answer = await _in_fresh_world(trial / "failover", database.dsn, failover)
                takeovers.append(after_expiry)
                print(
                    f"trial {number} failover: kill -9 -> standby holds the lease {to_lead:.2f} s "
                    f"(lease expiry -> lease {after_expiry:.2f} s; bound 15 s), kill -> commands answered again "
                    f"{to_answer:.2f} s"
                )
                longest, unanswered, total = await _in_fresh_world(trial / "handover", database.dsn, handover)
                handovers.append(longest)
                print(
                    f"trial {number} handover: longest wait for an answer {longest:.2f} s (Discord allows 3 s), "
                    f"{unanswered} of {total} interactions unanswered"
                )
        finally:
            database.close()
        print(
            f"failover, lease expiry -> new leader: median {statistics.median(takeovers):.2f} s, worst {max(takeovers):.2f} s; "
            f"handover, longest unanswered interaction: worst {max(handovers):.2f} s"
        )


async def _in_fresh_world(where: Path, dsn: str, run):
    """`run` in a stand-in of its own, on the database emptied first (the bots migrate it)."""
    await recreate_database(dsn)
    where.mkdir()
    async with Processes(where, dsn, members=20) as world:
        return await run(world)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    asyncio.run(main(parser.parse_args()))

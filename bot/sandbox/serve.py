"""Run the stand-in alone: `python -m bot.sandbox.serve --port 8080 --members 100`.

Prints one JSON line (api base, token, guild and channel ids) and serves until interrupted; point
any Discord client at it with DISCORD_API_BASE. Drive it over HTTP under /_sandbox."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from bot.sandbox.demo import build_demo_guild
from standin.server import StandIn


async def serve(port: int, members: int, token: str | None, clock_skew: float = 0.0) -> None:
    standin = StandIn(token=token, clock_skew=clock_skew)
    demo = build_demo_guild(standin)
    for i in range(members):
        standin.add_member(f"member{i:06d}")
    await standin.start(port=port)
    print(
        json.dumps(
            {
                "api_base": standin.api_base,
                "token": standin.token,
                "guild_id": standin.guild.id,
                "general_channel_id": demo.general.id,
                "members": len(standin.guild.members),
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    await standin.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--members", type=int, default=0, help="extra members besides the demo ones")
    parser.add_argument("--token", default=None, help="the bot token to accept (random by default)")
    parser.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        help="seconds added to this machine's clock in the ids it makes (Discord's clock and the bot's disagree)",
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.members, args.token, args.clock_skew))
    return 0


if __name__ == "__main__":
    sys.exit(main())

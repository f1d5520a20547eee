"""The command line: `python -m bot run | migrate ... | sandbox`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.core.config import Config, ConfigError, load_config, load_settings
from bot.core.logs import setup_logging
from db.pool import DatabaseUnreachable

EXIT_CONFIG = 2
EXIT_DATABASE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The Conclave Discord bot.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot (applies pending migrations first); a second one stands by")
    run.add_argument(
        "--takeover",
        action="store_true",
        help="warm up, then ask the running leader to hand over (a deploy with no gap)",
    )

    migrate = sub.add_parser("migrate", help="manage the database schema")
    msub = migrate.add_subparsers(dest="action", metavar="ACTION", required=True)
    msub.add_parser("status", help="list applied and pending migrations")
    up = msub.add_parser("up", help="apply pending migrations")
    up.add_argument("--to", type=int, metavar="N", help="stop after version N")
    down = msub.add_parser("down", help="roll back migrations (the newest one by default)")
    down.add_argument("--to", type=int, metavar="N", help="roll back everything above version N (0: all)")
    create = msub.add_parser("create", help="write the next numbered pair of migration files")
    create.add_argument("name")

    sub.add_parser("sandbox", help="try the bot against a local Discord stand-in, no account needed")
    backup = sub.add_parser("backup", help="dump the whole database to a file (stop nothing; it is consistent)")
    backup.add_argument("--to", help="the file (default: <data_dir>/backups/conclave-<time>.dump)")
    restore = sub.add_parser("restore", help="replace the database with a backup's contents (stop the bot first)")
    restore.add_argument("file", help="a file written by `python -m bot backup`")

    from bot.importing.cli import add_parser as add_import

    add_import(sub)

    doctor = sub.add_parser("doctor", help="the health of the database writes; replay or discard refused ones")
    dsub = doctor.add_subparsers(dest="action", metavar="ACTION")
    for action, text in (("replay", "write a refused write again"), ("discard", "give up a refused write")):
        dsub.add_parser(action, help=text).add_argument("id", type=int, help="the dead letter's id (see doctor)")
    return parser


NO_TOKEN = (
    "DISCORD_TOKEN is not set. Put your bot token in the environment or in .env "
    "(DISCORD_TOKEN=...; see .env.example), or try the bot without one: python -m bot sandbox"
)


def _token_missing() -> bool:
    try:
        token = load_settings().discord_token
    except ConfigError:
        return False  # the settings' own problem is reported already
    return token is None or not token.get_secret_value().strip()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        config = load_config(require_community_file=False)
    except ConfigError as exc:
        problems = [str(exc)]
        if command == "run" and _token_missing():  # everything `run` needs, said at once
            problems.append(NO_TOKEN)
        for problem in problems:
            print(f"conclave: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    settings = config.settings
    secrets = [
        s.get_secret_value() for s in (settings.discord_token, settings.database_url, settings.database_direct_url) if s
    ]
    level = config.settings.log_level
    if command in ("migrate", "doctor", "backup", "restore", "import") and level == "INFO":
        level = "WARNING"  # the migrate command prints its own report
    setup_logging(level, config.settings.log_format, secrets)

    try:
        if command == "migrate":
            from bot.ops.migrate import run_migrate

            return asyncio.run(run_migrate(config, args))
        if command == "doctor":
            from bot.ops.doctor import run_doctor

            return asyncio.run(run_doctor(config, args))
        if command == "backup":
            from bot.ops.backup import run_backup

            return asyncio.run(run_backup(config, args.to))
        if command == "restore":
            from bot.ops.backup import run_restore

            return asyncio.run(run_restore(config, args.file))
        if command == "import":
            from bot.importing.cli import run_import

            return asyncio.run(run_import(config, args))
    except DatabaseUnreachable as exc:  # a wrong or unreachable DATABASE_URL: one line, no traceback
        print(f"conclave: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    if command == "sandbox":
        from bot.sandbox.repl import run_sandbox

        return asyncio.run(run_sandbox(config))
    return run_bot(config, takeover=getattr(args, "takeover", False))


def run_bot(config: Config, *, takeover: bool = False) -> int:
    problems = []
    if config.settings.discord_token is None or not config.settings.discord_token.get_secret_value().strip():
        problems.append(NO_TOKEN)
    if config.community.guild_id is None:
        problems.append(
            f"guild_id is not set in {config.settings.conclave_config}: copy conclave.example.toml "
            "and set guild_id to your server's id"
        )
    if problems:  # all of them at once, not one per try
        for problem in problems:
            print(f"conclave: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    from bot.core.runner import run_forever

    return asyncio.run(run_forever(config, takeover=takeover))


if __name__ == "__main__":
    sys.exit(main())

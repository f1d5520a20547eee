"""The bot's whole command tree, as it syncs, stays within Discord's 8,000 characters a command
(names, descriptions, options and choices together): the stand-in refuses a larger one as Discord
does. Prints each command's size, largest first, so the margin is in sight (`pytest -s`)."""

from __future__ import annotations

from standin import limits


async def test_every_command_of_the_bots_tree_syncs_within_discords_8000_characters(sandbox):
    standin, bot = sandbox.standin, sandbox.bot
    registered = standin.commands[standin.guild.id]
    assert sorted(c["name"] for c in registered) == sorted(c.name for c in bot.synced_commands)
    assert not [r for r in standin.refusals if "/commands" in r.path]
    sizes = sorted(((limits.command_size(c), c["name"]) for c in registered), reverse=True)
    largest, name = sizes[0]
    print(f"\nlargest command: /{name}, {largest:,} of {limits.COMMAND_SIZE_MAX:,} characters")
    for size, other in sizes[1:]:
        print(f"  /{other}: {size:,}")
    assert largest <= limits.COMMAND_SIZE_MAX
    assert len(registered) == len({c["name"] for c in registered}) >= 10  # the whole tree, not a part

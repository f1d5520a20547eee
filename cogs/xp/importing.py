"""Staff's `/xp import`: another bot's export, attached to the command, imported through the ledger
with an edited progress message, then the summary; the rank index and achievements follow."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.core.errors import BadInput
from bot.importing import importer
from db import admin_logs, users

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from bot.core.doors import AchievementsDoor
    from cogs.xp.engine import XPEngine

log = logging.getLogger(__name__)

# Discord lets a member attach 10 MB (50 with Nitro Basic or in a server at boost tier 2, 100 at tier 3,
# 500 with Nitro): what passes 25 MB is imported from the command line (read in full, parsed in memory).
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
PROGRESS_EVERY_S = 2.0  # edits of the progress message, at most (Discord rate-limits edits)
EDIT_WINDOW_S = 14 * 60  # an interaction's token lasts 15 minutes; later, the summary goes by DM
CONTENT_LIMIT = 2_000
_background: set[asyncio.Task[None]] = set()


def bounded(lines: list[str], limit: int = CONTENT_LIMIT) -> str:
    """Lines joined within Discord's 2,000 characters (the last ones dropped, said so)."""
    out: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        line = line if len(line) <= 300 else line[:299] + "…"
        if size + len(line) + 1 > limit - 40:
            if sum(o == "```" for o in out) % 2:
                out.append("```")  # close the table that was cut
            out.append(f"… ({len(lines) - i} more lines)")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


async def import_command(
    bot: ConclaveBot,
    engine: XPEngine,
    interaction: discord.Interaction,
    file: discord.Attachment,
    source: str,
    by: str,
    dry_run: bool,
    members_only: bool,
) -> None:
    if file.size > MAX_ATTACHMENT_BYTES:
        raise BadInput(
            f"Nothing was imported: that file is {file.size:,} bytes, more than the "
            f"{MAX_ATTACHMENT_BYTES // 1024**2} MB ({MAX_ATTACHMENT_BYTES:,} bytes) /xp import takes. "
            f"Import it on the bot's machine instead: `python -m bot import FILE --from {source}`."
        )
    await interaction.response.defer(ephemeral=True, thinking=True)
    started = time.monotonic()
    data = await file.read()
    try:
        parsed = await asyncio.to_thread(importer.parse_bytes, data, source)  # type: ignore[arg-type]
    except importer.ImportFailed as error:
        raise BadInput(f"Nothing was imported: {str(error)[:300]}") from None
    guild = interaction.guild
    bots = {str(m.id) for m in guild.members if m.bot} if guild is not None else set()
    actor_id = await users.user_id_for(bot.pool, str(interaction.user.id))
    options = importer.Options(source, by, dry_run, members_only, origin=file.filename[:100], actor_id=actor_id)  # type: ignore[arg-type]
    plan = await asyncio.to_thread(importer.plan, parsed, options, bots=bots, actor_discord_id=str(interaction.user.id))
    if not plan.wanted and not dry_run:
        why = ", ".join(f"{reason} {n:,}" for reason, n in importer.reasons(plan.skipped)[:5])
        raise BadInput(f"Nothing to import from {file.filename[:100]}: every row was skipped ({why}"[:1900] + ").")
    progress = await interaction.followup.send(
        f"Importing {len(plan.wanted):,} members from {source}…", ephemeral=True, wait=True
    )
    last = 0.0

    async def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_S or now - started > EDIT_WINDOW_S:
            return
        last = now
        bar = "█" * (done * 20 // max(total, 1))
        try:
            await progress.edit(content=f"Importing from {source}: `{bar:<20}` {done:,} / {total:,}")
        except discord.HTTPException as error:
            log.info("import progress not shown: %s", error)

    try:
        summary = await importer.run(bot.pool, bot.config.community, plan, report=report)
    except importer.ImportFailed as error:
        raise BadInput(f"The import stopped: {str(error)[:300]}") from None
    if not dry_run:
        await _after(bot, engine, summary, actor_id)
    lines = _tables_in_code_blocks(importer.summary_lines(summary))
    if dry_run:
        mapping = importer.mapping_lines(summary)
        lines = [mapping[0], "```", *[line for line in mapping[1:] if line], "```", *lines]
    text = bounded(lines)
    if time.monotonic() - started > EDIT_WINDOW_S:
        try:
            await interaction.user.send(text)  # the interaction's token has expired
        except discord.HTTPException as error:
            log.warning("the summary of import %s reached nobody (DMs closed: %s)", summary.import_id, error)
    else:
        await progress.edit(content=text)
    if not dry_run:
        achievements = bot.doors.achievements
        if achievements is not None:  # after the summary: a backfill over every member takes a while
            task = asyncio.create_task(_evaluate(achievements), name=f"import:{summary.import_id}:achievements")
            _background.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(_background.discard)


async def _evaluate(achievements: AchievementsDoor) -> None:
    try:
        await achievements.after_imports()
    except Exception as error:  # the minute job tries again
        log.warning("achievements not evaluated after an import: %s", error)


def _tables_in_code_blocks(lines: list[str]) -> list[str]:
    """The level table lines up in Discord only in a code block."""
    for i, line in enumerate(lines):
        if line.startswith("Levels "):
            return [*lines[:i], "```", *lines[i:], "```"]
    return lines


async def _after(bot: ConclaveBot, engine: XPEngine, summary: importer.Summary, actor_id: str | None) -> None:
    """The rank index rebuilt from the database, achievements evaluated quietly, the audit row."""
    async with engine.lock, bot.pool.acquire() as conn:
        await engine.rebuild_rankings(conn)
    await admin_logs.log_admin_action(
        bot.pool,
        admin_id=actor_id,
        action="xp_import",
        target_type="setting",  # the guide's kinds; the import is named by target_id
        target_id=f"xp_import:{summary.import_id}",
        previous_value=None,
        new_value={"members": summary.imported, "xp": summary.total_xp, "source": summary.plan.options.source},
        reason=f"import from {summary.plan.options.source}",
    )

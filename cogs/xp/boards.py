"""The /leaderboard message and its buttons (previous, next, my position). Buttons carry their page
in the custom id, so they keep working after a restart (DynamicItem)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.core.errors import reported
from bot.rules.progression import level_for_xp
from bot.rules.ranking import BoardKey
from bot.ui.buttons import page_button
from bot.ui.embeds import BRAND
from cogs.xp.door import XPFeature
from db import boards

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from cogs.xp.engine import XPEngine

PAGE = 10
PERIOD_LABELS = {"all": "all time", "month": "this month", "week": "this week"}


def board_key(pathway: str | None, period: str, engine: XPEngine) -> BoardKey:
    week, month = engine.current_periods()
    start = {"all": None, "week": week, "month": month}[period]
    return (period, start, pathway or "")


async def _positioned(engine: XPEngine, key: BoardKey, rows: list[boards.BoardRow]) -> list[tuple]:
    return [(await engine.position(key, row.xp), row) for row in rows]


def _title(bot: ConclaveBot, key: BoardKey) -> str:
    period, _, pathway = key
    config = bot.config.community.pathway(pathway) if pathway else None
    name = config.name if config else "The Conclave Realm"
    return f"Leaderboard — {name} · {PERIOD_LABELS[period]}"


def _embed(bot: ConclaveBot, key: BoardKey, rows: list[tuple], highlight: str | None) -> discord.Embed:
    embed = discord.Embed(title=_title(bot, key), colour=BRAND)
    if not rows:
        embed.description = "Nobody has earned XP here yet." if highlight is None else "Nothing further."
        return embed
    lines = []
    for position, row in rows:
        name = row.display_name or row.username
        level = f" · level {level_for_xp(row.xp)}" if key[0] == "all" else ""
        line = f"**#{position}** {discord.utils.escape_markdown(name)} — {row.xp:,} XP{level}"
        lines.append(f"→ {line}" if row.user_id == highlight else line)
    embed.description = "\n".join(lines)
    embed.set_footer(text="Members in the server with XP on this board; positions as of the last second.")
    return embed


class LeaderboardButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"lb:(?P<board>[a-z-]+):(?P<period>all|week|month):(?P<dir>[pnm]):(?P<xp>\d+):(?P<uid>[\w-]+)",
):  # type: ignore[call-arg]
    """A page button: p = the page before the cursor row, n = the page after it, m = my position."""

    def __init__(
        self,
        board: str,
        period: str,
        direction: str,
        xp: int,
        uid: str,
        *,
        label: str,
        disabled: bool = False,
    ) -> None:
        self.board, self.period, self.direction, self.xp, self.uid = board, period, direction, xp, uid
        super().__init__(page_button(f"lb:{board or '-'}:{period}:{direction}:{xp}:{uid}", label, disabled=disabled))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> LeaderboardButton:
        board = "" if match["board"] == "-" else match["board"]
        return cls(board, match["period"], match["dir"], int(match["xp"]), match["uid"], label=item.label or "")

    @reported("leaderboard button")
    async def callback(self, interaction: discord.Interaction) -> Any:
        bot: ConclaveBot = interaction.client  # type: ignore[assignment]
        engine = XPFeature.of(bot).engine
        if self.direction == "m":
            me = await bot.identity.user_id(interaction.user)
            embed, view = await leaderboard_message(bot, engine, self.board, self.period, None, around=me)
        else:
            cursor = (self.xp, self.uid)
            embed, view = await leaderboard_message(
                bot,
                engine,
                self.board,
                self.period,
                after=cursor if self.direction == "n" else None,
                before=cursor if self.direction == "p" else None,
            )
        await interaction.response.edit_message(embed=embed, view=view)


async def leaderboard_message(
    bot: ConclaveBot,
    engine: XPEngine,
    pathway: str,
    period: str,
    after: boards.Cursor | None = None,
    *,
    before: boards.Cursor | None = None,
    around: str | None = None,
) -> tuple[discord.Embed, discord.ui.View]:
    key = board_key(pathway, period, engine)
    board = boards.Board(*key)
    pool = bot.pool
    if around is not None:
        rows = await boards.window(pool, board, around, above=PAGE // 2 - 1, below=PAGE // 2)
        if not rows:
            embed = _embed(bot, key, [], around)
            embed.description = "You're not on this leaderboard yet: earn some XP first!"
        else:
            embed = _embed(bot, key, await _positioned(engine, key, rows), around)
    else:
        rows = await boards.page(pool, board, after=after, before=before, limit=PAGE + 1)
        if before is not None:
            rows = rows[-PAGE:]
        elif len(rows) > PAGE:
            rows = rows[:PAGE]
        embed = _embed(bot, key, await _positioned(engine, key, rows), None)
    view = discord.ui.View(timeout=None)
    board_name = pathway or "-"
    first, last = (rows[0], rows[-1]) if rows else (None, None)
    at_top = first is None or not await boards.page(pool, board, before=(first.xp, first.user_id), limit=1)
    at_end = last is None or not await boards.page(pool, board, after=(last.xp, last.user_id), limit=1)
    view.add_item(
        LeaderboardButton(
            board_name,
            period,
            "p",
            first.xp if first else 0,
            first.user_id if first else "0",
            label="◀ Previous",
            disabled=at_top,
        )
    )
    view.add_item(
        LeaderboardButton(
            board_name,
            period,
            "n",
            last.xp if last else 0,
            last.user_id if last else "0",
            label="Next ▶",
            disabled=at_end,
        )
    )
    view.add_item(LeaderboardButton(board_name, period, "m", 0, "0", label="My position"))
    return embed, view

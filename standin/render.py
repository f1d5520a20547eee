"""Messages as readable text: what the sandbox prints and what tests read; Discord's markup
(mentions, channels, timestamps) shown as its client shows it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from standin import state as s

if TYPE_CHECKING:
    from standin.server import StandIn


def embed_text(embed: dict[str, Any]) -> str:
    lines: list[str] = []
    if embed.get("author", {}).get("name"):
        lines.append(embed["author"]["name"])
    if embed.get("title"):
        lines.append(f"**{embed['title']}**")
    if embed.get("description"):
        lines.append(embed["description"])
    for embed_field in embed.get("fields", []):
        lines.append(f"{embed_field.get('name', '')}: {embed_field.get('value', '')}")
    if embed.get("footer", {}).get("text"):
        lines.append(embed["footer"]["text"])
    return "\n".join(lines)


def components_text(components: list[dict[str, Any]]) -> str:
    labels = []
    for row in components:
        for component in row.get("components", []):
            if component.get("type") == 2:
                labels.append(f"[{component.get('label') or component.get('emoji', {}).get('name', '?')}]")
            elif component.get("type") in (3, 5, 6, 7, 8):
                options = ", ".join(o.get("label", "") for o in component.get("options", []))
                labels.append(f"<{component.get('placeholder') or 'choose'}: {options}>")
    return " ".join(labels)


def message_text(message: s.Message) -> str:
    parts = [message.content] if message.content else []
    parts.extend(embed_text(e) for e in message.embeds)
    if message.components:
        parts.append(components_text(message.components))
    return "\n".join(p for p in parts if p)


# Discord's markup in message text, as its client shows it.
MARKUP = re.compile(
    r"<@!?(?P<user>\d+)>|<@&(?P<role>\d+)>|<#(?P<channel>\d+)>|</(?P<command>[\w -]+):\d+>"
    r"|<a?:(?P<emoji>\w+):\d+>|<t:(?P<time>-?\d+)(?::(?P<style>[tTdDfFR]))?>"
)


def _relative(moment: datetime, now: datetime) -> str:
    seconds = int((moment - now).total_seconds())
    ahead, seconds = seconds >= 0, abs(seconds)
    for name, size in (("year", 31_536_000), ("month", 2_592_000), ("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = (seconds + size // 2) // size  # rounded, as Discord's client says it
            text = f"{count} {name}{'' if count == 1 else 's'}"
            break
    else:
        text = f"{seconds} second{'' if seconds == 1 else 's'}"
    return f"in {text}" if ahead else f"{text} ago"


def timestamp_text(unix: int, style: str | None, now: datetime | None = None) -> str:
    """A <t:unix:style> as Discord's client shows it, in this machine's timezone."""
    moment = datetime.fromtimestamp(unix, UTC).astimezone()
    day = f"{moment.day} {moment:%B %Y}"
    return {
        "t": f"{moment:%H:%M}",
        "T": f"{moment:%H:%M:%S}",
        "d": f"{moment:%d/%m/%Y}",
        "D": day,
        "F": f"{moment:%A}, {day} {moment:%H:%M}",
        "R": _relative(moment, now or datetime.now(UTC)),
    }.get(style or "f", f"{day} {moment:%H:%M}")


def readable(text: str, standin: StandIn) -> str:
    """`text` with mentions, channels, roles, commands, custom emoji and timestamps shown as names
    and dates, as Discord renders them."""
    guild = standin.guild

    def one(match: re.Match[str]) -> str:
        if match["user"]:
            user = standin.users.get(match["user"])
            return f"@{user.username}" if user else "@unknown-user"
        if match["role"]:
            role = guild.roles.get(match["role"])
            return f"@{role.name}" if role else "@deleted-role"
        if match["channel"]:
            channel = standin.channel(match["channel"])
            return f"#{channel.name}" if channel and channel.name else "#unknown"
        if match["command"]:
            return f"/{match['command']}"
        if match["emoji"]:
            return f":{match['emoji']}:"
        return timestamp_text(int(match["time"]), match["style"])

    return MARKUP.sub(one, text)

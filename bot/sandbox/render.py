"""Messages as readable text: what the sandbox prints and what tests read."""

from __future__ import annotations

from typing import Any

from bot.sandbox import state as s


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

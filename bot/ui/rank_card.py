"""The rank card: a PNG drawn with Pillow (avatar, name, level, rank title, a bar to the next level,
position on the server, pathway badges, showcased achievements). Pure: bytes in, bytes out.

Text goes through bot/ui/text.py (DejaVu Sans with per-character fallback to the system's fonts), so
any name is drawn; the name is made smaller, then cut with "…", to end before the position."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageOps

from bot.ui.text import Text, fitted

WIDTH, HEIGHT = 760, 220
BACKGROUND = (30, 27, 46)
PANEL = (44, 40, 66)
ACCENT = (109, 74, 255)
TEXT = (240, 238, 250)
GOLD = (241, 196, 15)
MUTED = (170, 165, 195)
PATHWAY_COLOURS = {
    "gaming": (0, 200, 220),
    "lorebound": (160, 90, 230),
    "productive": (16, 185, 129),
    "news": (230, 70, 70),
}


@dataclass(frozen=True)
class Badge:
    pathway: str
    label: str  # e.g. "Gaming 4"


@dataclass(frozen=True)
class CardData:
    name: str
    level: int
    rank_title: str
    xp_into_level: int
    xp_for_level: int
    total_xp: int
    position: int | None
    avatar_png: bytes | None = None
    subtitle: str = ""
    badges: list[Badge] = field(default_factory=list)
    showcase: list[str] = field(default_factory=list)  # names of the achievements the member shows (<= 3)


LEFT = 210  # where the name, the level line and the bar start
RIGHT = WIDTH - 40
NAME_TOP = 30
NAME_SIZES = (34, 30, 26, 22)
NAME_GAP = 16  # between the end of the name and the position


def _avatar(data: bytes | None, name: str, size: int) -> Image.Image:
    if data:
        try:
            image = Image.open(io.BytesIO(data)).convert("RGBA")
            image = ImageOps.fit(image, (size, size))
        except (OSError, ValueError):
            image = None
    else:
        image = None
    if image is None:
        image = Image.new("RGBA", (size, size), ACCENT)
        initial = Text((name.strip()[:1] or "?").upper(), size // 2)
        initial.draw(image, ((size - initial.width) / 2, (size - initial.ascent - initial.descent) / 2), TEXT)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, size - 1, size - 1), fill=255)
    image.putalpha(mask)
    return image


def name_and_position(card: CardData) -> tuple[Text, Text]:
    """The name, fitted to end NAME_GAP before the position ("#1", or "unranked") at the right."""
    position = Text(f"#{card.position}" if card.position else "unranked", 34)
    room = RIGHT - position.width - NAME_GAP - LEFT
    return fitted(card.name, room, NAME_SIZES), position


def draw_rank_card(card: CardData) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((12, 12, WIDTH - 12, HEIGHT - 12), radius=18, fill=PANEL)
    avatar = _avatar(card.avatar_png, card.name, 150)
    image.paste(avatar, (32, 35), avatar)

    name, position = name_and_position(card)
    # A smaller name sits lower, on the same baseline as the position.
    name.draw(image, (LEFT, NAME_TOP + position.ascent - name.ascent), TEXT)
    position.draw(image, (RIGHT, NAME_TOP), ACCENT, anchor="ra")
    right = RIGHT
    for achievement in card.showcase[:3]:  # the showcased achievements, gold pills right to left
        label = fitted(achievement, 150, (14,))
        width = label.width + 18
        draw.rounded_rectangle((right - width, 74, right, 94), radius=9, fill=GOLD)
        label.draw(image, (right - width + 9, 76), BACKGROUND)
        right -= width + 6
    if card.subtitle:
        fitted(card.subtitle, right - 8 - LEFT, (18,)).draw(image, (LEFT, 72), MUTED)
    fitted(f"Level {card.level}  ·  {card.rank_title}", RIGHT - LEFT, (24, 20)).draw(image, (LEFT, 100), TEXT)

    bar_top, bar_bottom = 140, 164
    draw.rounded_rectangle((LEFT, bar_top, RIGHT, bar_bottom), radius=12, fill=BACKGROUND)
    fraction = 0.0 if card.xp_for_level <= 0 else max(0.0, min(1.0, card.xp_into_level / card.xp_for_level))
    if fraction > 0:
        filled = LEFT + max(24, int((RIGHT - LEFT) * fraction))
        draw.rounded_rectangle((LEFT, bar_top, filled, bar_bottom), radius=12, fill=ACCENT)
    progress = Text(f"{card.xp_into_level:,} / {card.xp_for_level:,} XP  ({card.total_xp:,} total)", 16)
    progress.draw(image, (RIGHT, 170), MUTED, anchor="ra")

    x = LEFT
    for badge in card.badges[:4]:
        colour = PATHWAY_COLOURS.get(badge.pathway, ACCENT)
        label = fitted(badge.label, 120, (15,))
        width = label.width + 20
        draw.rounded_rectangle((x, 176, x + width, 198), radius=10, fill=colour)
        label.draw(image, (x + 10, 179), BACKGROUND)
        x += width + 8

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()

"""The rank card: a PNG drawn with Pillow (avatar, name, level, rank title, a bar to the next level,
position on the server, pathway badges, showcased achievements). Pure: bytes in, bytes out."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont, ImageOps

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


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


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
        draw = ImageDraw.Draw(image)
        initial = (name[:1] or "?").upper()
        font = _font(size // 2)
        box = draw.textbbox((0, 0), initial, font=font)
        draw.text(
            ((size - (box[2] - box[0])) / 2 - box[0], (size - (box[3] - box[1])) / 2 - box[1]),
            initial,
            font=font,
            fill=TEXT,
        )
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, size - 1, size - 1), fill=255)
    image.putalpha(mask)
    return image


def draw_rank_card(card: CardData) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((12, 12, WIDTH - 12, HEIGHT - 12), radius=18, fill=PANEL)
    avatar = _avatar(card.avatar_png, card.name, 150)
    image.paste(avatar, (32, 35), avatar)

    left = 210
    draw.text((left, 30), card.name[:28], font=_font(34), fill=TEXT)
    if card.subtitle:
        draw.text((left, 72), card.subtitle[:48], font=_font(18), fill=MUTED)
    position = f"#{card.position}" if card.position else "unranked"
    draw.text((WIDTH - 40, 30), position, font=_font(34), fill=ACCENT, anchor="ra")
    draw.text((left, 100), f"Level {card.level}  ·  {card.rank_title}", font=_font(24), fill=TEXT)
    right = WIDTH - 40
    for name in card.showcase[:3]:  # the showcased achievements, gold pills right to left
        font = _font(14)
        label = name if len(name) <= 18 else name[:17] + "…"
        width = int(draw.textlength(label, font=font)) + 18
        draw.rounded_rectangle((right - width, 74, right, 94), radius=9, fill=GOLD)
        draw.text((right - width + 9, 76), label, font=font, fill=BACKGROUND)
        right -= width + 6

    bar_top, bar_bottom, bar_right = 140, 164, WIDTH - 40
    draw.rounded_rectangle((left, bar_top, bar_right, bar_bottom), radius=12, fill=BACKGROUND)
    fraction = 0.0 if card.xp_for_level <= 0 else max(0.0, min(1.0, card.xp_into_level / card.xp_for_level))
    if fraction > 0:
        filled = left + max(24, int((bar_right - left) * fraction))
        draw.rounded_rectangle((left, bar_top, filled, bar_bottom), radius=12, fill=ACCENT)
    draw.text(
        (bar_right, 170),
        f"{card.xp_into_level:,} / {card.xp_for_level:,} XP  ({card.total_xp:,} total)",
        font=_font(16),
        fill=MUTED,
        anchor="ra",
    )

    x = left
    for badge in card.badges[:4]:
        colour = PATHWAY_COLOURS.get(badge.pathway, ACCENT)
        font = _font(15)
        width = int(draw.textlength(badge.label, font=font)) + 20
        draw.rounded_rectangle((x, 176, x + width, 198), radius=10, fill=colour)
        draw.text((x + 10, 179), badge.label, font=font, fill=BACKGROUND)
        x += width + 8

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()

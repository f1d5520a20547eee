"""The rank card as a member sees it: names in any script drawn (not as boxes), colour emoji in
colour, and a long name made to end before the position instead of running under "#1"."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.ui import rank_card, text
from bot.ui.rank_card import ACCENT, TEXT, CardData, draw_rank_card

NO_FONT_HAS_IT = "\U000f0000"  # a private-use character: every font draws its "missing" box
NAME_ROWS = (26, 72)  # the band of the name and the position, above the subtitle


def _card(name: str, position: int | None = 1) -> Image.Image:
    card = CardData(
        name=name,
        level=7,
        rank_title="Apprentice",
        xp_into_level=300,
        xp_for_level=1300,
        total_xp=3900,
        position=position,
        subtitle="Primary: Gaming Realm",
    )
    return Image.open(io.BytesIO(draw_rank_card(card))).convert("RGB")


def _name_band(image: Image.Image) -> Image.Image:
    return image.crop((rank_card.LEFT, NAME_ROWS[0], rank_card.RIGHT - 120, NAME_ROWS[1]))


def _needs_a_font_for(characters: str) -> None:
    missing = [c for c in characters if text.font_for(c) is None]
    if missing:
        pytest.skip(
            f"no font on this machine has {missing} (Debian: fonts-droid-fallback or fonts-noto-cjk, "
            "fonts-noto-color-emoji; .ci/run installs them)"
        )


@pytest.mark.parametrize("character", ["ë", "Ω", "Ж", "李", "小", "龍", "🎮"])
def test_a_character_of_a_name_is_drawn_as_itself_not_as_the_missing_glyph_box(character):
    _needs_a_font_for(character)
    drawn = _name_band(_card(f"A{character}"))
    box = _name_band(_card(f"A{NO_FONT_HAS_IT}"))
    assert drawn.tobytes() != box.tobytes(), f"{character!r} is drawn as the missing-glyph box"


def test_every_character_of_names_in_other_scripts_has_a_font():
    name = "Zoë Ωmega Жанна 李小龍 🎮"
    _needs_a_font_for(name.replace(" ", ""))
    covered = {c: text.font_for(c) for c in name}
    assert all(covered.values()), covered
    # The rank card draws the name with exactly those fonts, in runs.
    assert "".join(part for part, _ in text.runs(name)) == name


def test_an_emoji_in_a_name_is_drawn_in_colour():
    _needs_a_font_for("🎮")
    if not text.font_for("🎮").emoji:
        pytest.skip("no colour emoji font on this machine (Debian: fonts-noto-color-emoji)")
    band = _name_band(_card("🎮🍎"))
    # The name is drawn in TEXT (near white, on a dark panel: no channel 30 apart from the others even
    # where anti-aliased); a colour emoji has saturated pixels of its own.
    pixels = [band.getpixel((x, y)) for x in range(band.width) for y in range(band.height)]
    saturated = [p for p in pixels if max(p) - min(p) > 80]
    assert len(saturated) > 100


def _columns(image: Image.Image, colour: tuple[int, int, int]) -> list[int]:
    """Columns in the name band holding pixels of (nearly) `colour`."""
    found = set()
    for y in range(*NAME_ROWS):
        for x in range(rank_card.LEFT - 4, image.width):
            pixel = image.getpixel((x, y))
            if sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < 30:
                found.add(x)
    return sorted(found)


@pytest.mark.parametrize("name", ["W" * 40, "Ağa Ñoño with a display name far too long to fit", "李小龍" * 8])
@pytest.mark.parametrize("position", [1, 12345, None])
def test_a_long_name_ends_before_the_position(name, position):
    _needs_a_font_for(name)
    image = _card(name, position)
    name_columns = _columns(image, TEXT)
    position_columns = _columns(image, ACCENT)
    assert name_columns and position_columns
    assert max(name_columns) + 8 < min(position_columns), (max(name_columns), min(position_columns))
    shown, _ = rank_card.name_and_position(CardData(name, 7, "Apprentice", 300, 1300, 3900, position))
    assert shown.text.endswith("…") and shown.text[:-1].rstrip() and name.startswith(shown.text[:-1].rstrip())


def test_a_name_that_fits_is_shown_whole_at_full_size():
    shown, position = rank_card.name_and_position(CardData("Zoë", 7, "Apprentice", 300, 1300, 3900, 1))
    assert (shown.text, shown.size) == ("Zoë", 34)
    assert position.text == "#1"


def test_cutting_a_name_never_leaves_half_an_emoji():
    family = "👨\u200d👩\u200d👧"
    shown = text.fitted("Fam " + family * 10, 200, (22,))
    assert shown.width <= 200
    assert shown.text.endswith("…")
    assert not shown.text[:-1].endswith("\u200d")

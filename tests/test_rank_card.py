"""The rank card as a member sees it: names in any script drawn (not as boxes), colour emoji in
colour, and a long name made to end before the position instead of running under "#1"."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image, ImageDraw, ImageFont, features

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
            f"no font on this machine has {missing} (Debian: fonts-wqy-microhei or fonts-noto-cjk, "
            "fonts-noto-core, fonts-noto-color-emoji; .ci/run installs them)"
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


# Names as members of the community write them, one script each (the marks on their letters).
NAMES_IN_SCRIPTS = {
    "Korean": "김민준",
    "Devanagari": "अर्जुन शर्मा",
    "Tamil": "தமிழ்செல்வி",
    "Bengali": "সৌমিত্র",
    "Thai": "สมชาย ใจดี",
    "Amharic": "አበበ ቢቂላ",
    "Arabic": "محمد العربي",
    "Hebrew": "שלום כהן",
}


@pytest.mark.parametrize("script", list(NAMES_IN_SCRIPTS))
def test_a_name_in_another_script_has_no_character_drawn_as_the_missing_glyph_box(script):
    name = NAMES_IN_SCRIPTS[script]
    _needs_a_font_for(name.replace(" ", ""))
    assert text.boxes(name) == []
    # A vowel sign or tone mark is shaped with its letter: in the same run, so the same font.
    for part, _ in text.runs(name):
        assert not text._is_mark(part[0]), (script, part)
    assert _name_band(_card(name)).tobytes() != _name_band(_card(NO_FONT_HAS_IT * len(name))).tobytes()


def test_a_character_no_font_has_is_counted_as_a_box():
    assert text.boxes(f"A{NO_FONT_HAS_IT}") == [NO_FONT_HAS_IT]
    assert text.boxes("Fam 👨\u200d👩\u200d👧") in ([], ["👨", "👩", "👧"])  # joiners draw nothing either way


def _needs_shaping() -> None:
    if not features.check("raqm"):
        pytest.skip("Pillow has no libraqm here (Debian: libraqm0): Arabic and Hebrew are not laid out right to left")


def _ink(draw_on) -> Image.Image:
    image = Image.new("L", (320, 60), 0)
    draw_on(image)
    return image


def test_a_hebrew_name_reads_right_to_left():
    _needs_shaping()
    _needs_a_font_for("שלום")
    line = text.Text("שלום", 30)
    drawn = _ink(lambda image: line.draw(image, (10, 5), 255))
    # The same letters, set one by one from the left in the reverse order: what right to left looks like.
    font = ImageFont.truetype(text.font_for("ש").path, 30, layout_engine=ImageFont.Layout.BASIC)
    expected = _ink(
        lambda image: ImageDraw.Draw(image).text((10, 5 + line.ascent), "םולש", font=font, fill=255, anchor="ls")
    )
    assert drawn.tobytes() == expected.tobytes()


def _gaps(image: Image.Image) -> int:
    """Blank columns between inked ones: where one letter ends and the next begins apart from it."""
    columns = [x for x in range(image.width) if any(image.getpixel((x, y)) for y in range(image.height))]
    return sum(1 for a, b in itertools.pairwise(columns) if b - a > 1)


def test_an_arabic_name_is_joined_letter_to_letter():
    _needs_shaping()
    word = "بيتك"  # four letters that join on both sides: one unbroken stroke when shaped
    _needs_a_font_for(word)
    line = text.Text(word, 30)
    assert _gaps(_ink(lambda image: line.draw(image, (10, 5), 255))) == 0
    font = ImageFont.truetype(text.font_for("ب").path, 30, layout_engine=ImageFont.Layout.BASIC)
    apart = _ink(lambda image: ImageDraw.Draw(image).text((10, 40), word, font=font, fill=255, anchor="ls"))
    assert _gaps(apart) == 3  # unshaped: four letters standing apart


def test_a_right_to_left_name_with_an_emoji_between_its_words_reads_in_order():
    # Read right to left: "שלום", then the emoji, then "כהן" leftmost, as Discord shows the name.
    _needs_shaping()
    _needs_a_font_for("שלום כהן🎮")
    name, last = "שלום 🎮 כהן", text.Text("כהן", 30)
    line = text.Text(name, 30)
    drawn = _ink(lambda image: line.draw(image, (10, 5), 255))
    alone = _ink(lambda image: last.draw(image, (10, 5), 255))
    left = (0, 0, 10 + last.width, 60)
    assert drawn.crop(left).tobytes() == alone.crop(left).tobytes()
    first = text.Text("שלום", 30)  # the first word ends the line on the right
    alone = _ink(lambda image: first.draw(image, (10 + line.width, 5), 255, anchor="ra"))
    right = (10 + line.width - first.width, 0, 320, 60)
    assert drawn.crop(right).tobytes() == alone.crop(right).tobytes()


def test_a_left_to_right_name_with_a_hebrew_word_keeps_its_order():
    _needs_shaping()
    _needs_a_font_for("Dan שלום🎮")
    line = text.Text("Dan 🎮 שלום", 30)
    drawn = _ink(lambda image: line.draw(image, (10, 5), 255))
    first = text.Text("Dan", 30)
    alone = _ink(lambda image: first.draw(image, (10, 5), 255))
    left = (0, 0, 10 + first.width, 60)
    assert drawn.crop(left).tobytes() == alone.crop(left).tobytes()

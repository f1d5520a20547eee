"""Text on images for any name a member may have: DejaVu Sans (shipped in matplotlib's mpl-data, so
always there) first, then, character by character, the system's fonts for what it lacks (CJK, other
scripts, colour emoji) where they are installed, so "Zoë", "李小龍" or "🎮" are drawn, not boxes.

Where Pillow has libraqm (PIL.features.check("raqm"); Debian: libraqm0), each run is laid out by it:
Arabic and Hebrew right to left and joined, Indic and Thai marks set on their letters. A mark stays in
its letter's run when that font has it (a mark drawn by another font would float alone, on a dotted
circle). Runs of different fonts (and of different directions) are placed in the order a reader sees
them: the Unicode bidirectional algorithm (python-bidi) gives each character its level, so in
"שלום 🎮 כהן" the first word is on the right and the emoji between the two.

Also fitting a line to a width: a smaller size first, then cut with "…".

Fonts are opened once per (file, size) per thread (Pillow's faces are not shared between the worker
threads that draw): at most (sizes the card uses, about 10) * (fonts found) * (worker threads) faces."""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from bidi import algorithm as bidi
from PIL import Image, ImageDraw, ImageFont, features

log = logging.getLogger(__name__)

# Looked for by file name under the usual font folders, in this order (the first that has a
# character draws it). Debian: fonts-noto-cjk, fonts-wqy-microhei (CJK and Hangul in 5 MB: what .ci/run
# and the container install), fonts-droid-fallback (CJK, no Hangul), fonts-noto-core (the other
# scripts), fonts-freefont-ttf, fonts-noto-color-emoji. Only the files named here are opened, and a
# character's font is remembered (font_for), so a longer list costs a name nothing after its first use.
FALLBACK_FILES = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "wqy-microhei.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
    "NotoSans-Regular.ttf",
    "NotoSansArabic-Regular.ttf",
    "NotoSansHebrew-Regular.ttf",
    "NotoSansDevanagari-Regular.ttf",
    "NotoSansBengali-Regular.ttf",
    "NotoSansTamil-Regular.ttf",
    "NotoSansTelugu-Regular.ttf",
    "NotoSansKannada-Regular.ttf",
    "NotoSansMalayalam-Regular.ttf",
    "NotoSansGujarati-Regular.ttf",
    "NotoSansGurmukhi-Regular.ttf",
    "NotoSansSinhala-Regular.ttf",
    "NotoSansThai-Regular.ttf",
    "NotoSansLao-Regular.ttf",
    "NotoSansKhmer-Regular.ttf",
    "NotoSansMyanmar-Regular.ttf",
    "NotoSansEthiopic-Regular.ttf",
    "NotoSansGeorgian-Regular.ttf",
    "NotoSansArmenian-Regular.ttf",
    "NotoSansSymbols2-Regular.ttf",
    "FreeSans.ttf",
)
FONT_FOR_CACHE = 4096  # characters whose font is remembered (a few hundred bytes each)
EMOJI_FILE = "NotoColorEmoji.ttf"
EMOJI_STRIKE = 109  # Noto Color Emoji is a bitmap font: drawn at its one size, then scaled
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
ELLIPSIS = "…"


def _primary_path() -> str:
    import matplotlib  # only for the path of its bundled DejaVu Sans; nothing of it is drawn here

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


@dataclass(frozen=True)
class FontFile:
    path: str
    emoji: bool = False


class _Coverage:
    """Which characters a font file has (FreeType's character map), asked under a lock."""

    def __init__(self, path: str) -> None:
        from matplotlib.ft2font import FT2Font

        self._face = FT2Font(path)
        self._lock = threading.Lock()

    def has(self, char: str) -> bool:
        with self._lock:
            return self._face.get_char_index(ord(char)) != 0


@cache
def font_files() -> tuple[FontFile, ...]:
    """DejaVu Sans, then the fallbacks found on this machine, then colour emoji if installed."""
    wanted = {name: None for name in (*FALLBACK_FILES, EMOJI_FILE)}
    found: dict[str, str] = {}
    for folder in FONT_DIRS:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for dirpath, _, names in os.walk(root):
            for name in names:
                if name in wanted and name not in found:
                    found[name] = str(Path(dirpath) / name)
    files = [FontFile(_primary_path())]
    files += [FontFile(found[name]) for name in FALLBACK_FILES if name in found]
    if EMOJI_FILE in found:
        files.append(FontFile(found[EMOJI_FILE], emoji=True))
    log.debug("fonts for images: %s", [f.path for f in files])
    return tuple(files)


@cache
def _coverage(path: str) -> _Coverage:
    return _Coverage(path)


# Characters that belong with the one before them whatever font has them: joiners, variation
# selectors, skin tones, combining marks (the shaper composes them with their base).
def _attaches(char: str) -> bool:
    code = ord(char)
    return (
        code in (0x200D, 0xFE0E, 0xFE0F, 0x20E3)
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or unicodedata.combining(char) != 0
    )


def _is_mark(char: str) -> bool:
    """A vowel sign, tone mark or the like (Unicode M*): shaped with the letter it follows."""
    return unicodedata.category(char).startswith("M")


def _prefers_emoji(char: str) -> bool:
    code = ord(char)
    return code >= 0x1F000 or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF


_warned = False


@lru_cache(maxsize=FONT_FOR_CACHE)
def font_for(char: str) -> FontFile | None:
    """The first font that has `char` (colour emoji first for emoji), or None when none does."""
    files = font_files()
    order = sorted(files, key=lambda f: not f.emoji) if _prefers_emoji(char) else files
    for file in order:
        if _coverage(file.path).has(char):
            return file
    return None


HAVE_RAQM = features.check("raqm")  # Debian: libraqm0
RIGHT_TO_LEFT = frozenset(("R", "AL", "RLE", "RLO", "RLI"))


def levels(text: str) -> list[int]:
    """Each character's embedding level (UAX #9, rules P2-I2): even reads left to right, odd right to
    left. A name with no right-to-left character is level 0 throughout, without running the algorithm."""
    if not any(unicodedata.bidirectional(c) in RIGHT_TO_LEFT for c in text):
        return [0] * len(text)
    storage = bidi.get_empty_storage()
    storage["base_level"] = bidi.get_base_level(text)
    storage["base_dir"] = ("L", "R")[storage["base_level"]]
    bidi.get_embedding_levels(text, storage)
    every = list(storage["chars"])  # X9 drops joiners and controls from the list; they keep a level
    bidi.explicit_embed_and_overrides(storage, False)
    bidi.resolve_weak_types(storage, False)
    bidi.resolve_neutral_types(storage, False)
    bidi.resolve_implicit_levels(storage, False)
    return [c["level"] for c in every]


def runs(text: str) -> list[tuple[str, FontFile]]:
    """`text` (NFC) split into runs that one font draws, in the text's order."""
    return [(part, file) for part, file, _ in _leveled_runs(unicodedata.normalize("NFC", text))]


def visual_runs(text: str) -> list[tuple[str, FontFile, bool]]:
    """The runs in the order they are drawn from the left (UAX #9 rule L2: from the highest level
    down to the lowest odd one, every stretch of runs at that level or above is reversed), each with
    whether it reads right to left (raqm lays its letters out that way)."""
    leveled = _leveled_runs(unicodedata.normalize("NFC", text))
    if not leveled:
        return []
    top = max(level for _, _, level in leveled)
    lowest_odd = min((level for _, _, level in leveled if level % 2), default=top + 1)
    for level in range(top, lowest_odd - 1, -1):
        i = 0
        while i < len(leveled):
            if leveled[i][2] >= level:
                j = i
                while j < len(leveled) and leveled[j][2] >= level:
                    j += 1
                leveled[i:j] = reversed(leveled[i:j])
                i = j
            else:
                i += 1
    return [(part, file, level % 2 == 1) for part, file, level in leveled]


def _leveled_runs(text: str) -> list[tuple[str, FontFile, int]]:
    global _warned
    out: list[tuple[str, FontFile, int]] = []
    primary = font_files()[0]
    for char, level in zip(text, levels(text), strict=True):
        if out and (_attaches(char) or (_is_mark(char) and _coverage(out[-1][1].path).has(char))):
            out[-1] = (out[-1][0] + char, out[-1][1], out[-1][2])
            continue
        file = font_for(char)
        if file is None:
            if not _warned:
                _warned = True
                log.info(
                    "no font on this machine has %r (U+%04X); names with it show a box "
                    "(Debian: apt-get install fonts-wqy-microhei or fonts-noto-cjk, fonts-noto-core, "
                    "fonts-noto-color-emoji)",
                    char,
                    ord(char),
                )
            file = primary
        if out and out[-1][1] == file and out[-1][2] == level:
            out[-1] = (out[-1][0] + char, file, level)
        else:
            out.append((char, file, level))
    return out


def boxes(text: str) -> list[str]:
    """The characters of `text` that would be drawn as the missing-glyph box (.notdef): those the
    font of their run lacks. Joiners and variation selectors draw nothing, so they count as drawn."""
    return [
        char
        for part, file in runs(text)
        for char in part
        if unicodedata.category(char) != "Cf"
        and not 0xFE00 <= ord(char) <= 0xFE0F
        and not _coverage(file.path).has(char)
    ]


_local = threading.local()


def _font(file: FontFile, size: int) -> ImageFont.FreeTypeFont:
    cache_ = _local.__dict__.setdefault("fonts", {})
    key = (file.path, EMOJI_STRIKE if file.emoji else size)
    if key not in cache_:
        cache_[key] = ImageFont.truetype(file.path, key[1])
    return cache_[key]


class Text:
    """A line of text at one size, drawn with as many fonts as it needs, on one baseline."""

    def __init__(self, text: str, size: int) -> None:
        self.text = text
        self.size = size
        self.runs = visual_runs(text)
        primary = _font(font_files()[0], size)
        self.ascent, self.descent = primary.getmetrics()

    def _scale(self, file: FontFile) -> float:
        return self.size / EMOJI_STRIKE if file.emoji else 1.0

    @property
    def width(self) -> int:
        return round(sum(self._length(part, f, rtl) for part, f, rtl in self.runs))

    def _length(self, part: str, file: FontFile, rtl: bool) -> float:
        return _font(file, self.size).getlength(part, **_direction(rtl)) * self._scale(file)

    def draw(self, image: Image.Image, xy: tuple[float, float], fill: tuple[int, ...], anchor: str = "la") -> None:
        """Draw with its top left (anchor "la") or top right ("ra") at `xy`."""
        x, top = xy
        if anchor == "ra":
            x -= self.width
        baseline = top + self.ascent
        draw = ImageDraw.Draw(image)
        for part, file, rtl in self.runs:
            font = _font(file, self.size)
            if not file.emoji:
                draw.text((x, baseline), part, font=font, fill=fill, anchor="ls", **_direction(rtl))
                x += font.getlength(part, **_direction(rtl))
                continue
            # Colour bitmaps at their strike, scaled down to the line and set on its baseline.
            ascent, descent = font.getmetrics()
            length = font.getlength(part)
            strike = Image.new("RGBA", (max(1, round(length)), ascent + descent), (0, 0, 0, 0))
            ImageDraw.Draw(strike).text((0, ascent), part, font=font, embedded_color=True, anchor="ls")
            scale = self._scale(file)
            scaled = strike.resize(
                (max(1, round(strike.width * scale)), max(1, round(strike.height * scale))), Image.Resampling.LANCZOS
            )
            image.paste(scaled, (round(x), round(baseline - ascent * scale)), scaled)
            x += length * scale


def _direction(rtl: bool) -> dict[str, str]:
    """A right-to-left run laid out so by raqm; without raqm, Pillow knows no direction."""
    return {"direction": "rtl"} if rtl and HAVE_RAQM else {}


def _drop_last_character(chars: list[str]) -> None:
    """Remove the last character as a reader sees it: never half an emoji or an accent alone."""
    while chars and _attaches(chars[-1]):
        chars.pop()
    if chars:
        chars.pop()
    while chars and _attaches(chars[-1]):  # the joiner left before a dropped emoji
        chars.pop()


def fitted(text: str, max_width: int, sizes: tuple[int, ...]) -> Text:
    """`text` at the largest of `sizes` (largest first) that fits in `max_width`; at the smallest, cut
    with "…" until it does."""
    for size in sizes:
        line = Text(text, size)
        if line.width <= max_width:
            return line
    size = sizes[-1]
    # Every place the name may be cut (never inside an emoji or before its accent), longest first;
    # the longest cut that fits is found by bisection (a few layouts, not one per character).
    chars = list(unicodedata.normalize("NFC", text))
    cuts = []
    while chars:
        _drop_last_character(chars)
        cuts.append("".join(chars).rstrip() + ELLIPSIS)
    lo, hi = 0, len(cuts)  # cuts[hi:] are known to fit (the empty name's "…" is taken to)
    while lo < hi:
        mid = (lo + hi) // 2
        if Text(cuts[mid], size).width <= max_width:
            hi = mid
        else:
            lo = mid + 1
    for cut in cuts[lo:]:  # widths grow with length but shaping may bend that: the first that truly fits
        line = Text(cut, size)
        if line.width <= max_width:
            return line
    return Text(ELLIPSIS, size)

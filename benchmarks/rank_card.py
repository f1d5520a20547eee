"""Rank card render time (draw_rank_card, PNG bytes out) for names in many scripts: the font fallback
and shaping a name costs, beside a Latin name. Prints p50 and p99 per name, with the fonts found and
whether Pillow shapes with libraqm.

    python benchmarks/rank_card.py [--cards 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from PIL import features

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.figures import report  # noqa: E402
from bot.ui import text  # noqa: E402
from bot.ui.rank_card import Badge, CardData, draw_rank_card  # noqa: E402

NAMES = {
    "Latin": "Zoë Harrington",
    "CJK": "李小龍",
    "Korean": "김민준",
    "Devanagari": "अर्जुन शर्मा",
    "Tamil": "தமிழ்செல்வி",
    "Bengali": "সৌমিত্র",
    "Thai": "สมชาย ใจดี",
    "Amharic": "አበበ ቢቂላ",
    "Arabic": "محمد العربي",
    "Hebrew": "שלום כהן",
    "emoji": "Gamer 🎮🔥",
    "mixed, cut": "Zoë 李小龍 김민준 अर्जुन สมชาย አበበ محمد שלום 🎮" * 2,
}


def card(name: str) -> CardData:
    return CardData(
        name=name,
        level=12,
        rank_title="Journeyman",
        xp_into_level=450,
        xp_for_level=2300,
        total_xp=12_550,
        position=42,
        subtitle="Primary: Gaming Realm",
        badges=[Badge("gaming", "Gaming 12"), Badge("news", "News 3")],
        showcase=["First Words", "Night Owl"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=200, help="cards drawn per name")
    args = parser.parse_args()
    print(f"fonts: {[f.path.rsplit('/', 1)[-1] for f in text.font_files()]}")
    print(f"libraqm (bidi and shaping): {features.check('raqm')}")
    for name in NAMES.values():  # first use opens the fonts: not what a card costs afterwards
        draw_rank_card(card(name))
    medians = []
    for label, name in NAMES.items():
        samples = []
        for _ in range(args.cards):
            started = time.perf_counter()
            draw_rank_card(card(name))
            samples.append((time.perf_counter() - started) * 1000)
        report(label, samples, width=12)
        medians.append(statistics.median(samples))
    print(f"  {'all names':<12} p50 of medians {statistics.median(medians):8.3f} ms")


if __name__ == "__main__":
    main()

"""Visual factors of a world: which exist, which a title names, and each item's values.

Named factors (category = shape family, colour) appear in titles; unnamed ones (pattern, trim) never do,
so only the image can carry them; nuisance factors (background, position, scale, rotation, noise, JPEG
quality) vary per item and no user cares about them. Vocabulary sizes and members are drawn per world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SHAPES = ("circle", "square", "triangle", "diamond", "pentagon", "hexagon", "star", "cross", "crescent")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (205, 40, 45),
    "orange": (240, 135, 30),
    "yellow": (232, 200, 40),
    "green": (55, 160, 70),
    "teal": (25, 150, 150),
    "blue": (45, 90, 210),
    "purple": (130, 60, 180),
    "pink": (238, 115, 175),
    "brown": (125, 80, 40),
    "grey": (125, 125, 130),
}
PATTERNS = ("solid", "stripes", "slashes", "dots", "checks", "grid", "waves", "rings", "crosshatch")
TRIMS = ("none", "thin", "thick")
NAMED = ("category", "colour")
UNNAMED = ("pattern", "trim")
NUISANCE = (
    "background",
    "colour_jitter",
    "offset_x",
    "offset_y",
    "scale",
    "rotation",
    "noise",
    "jpeg_quality",
)

_DESCRIPTORS = (
    "classic",
    "new",
    "deluxe",
    "mini",
    "pro",
    "basic",
    "premium",
    "limited",
    "everyday",
    "original",
)
_SYLLABLES = ("ka", "lo", "mi", "ra", "zu", "ne", "to", "vi", "sa", "bo", "ki", "pa", "mo", "ri", "te", "lu")


@dataclass(frozen=True)
class Vocabulary:
    category: tuple[str, ...]
    colour: tuple[str, ...]
    pattern: tuple[str, ...]
    trim: tuple[str, ...]
    brands: tuple[str, ...]

    def values(self, factor: str) -> tuple[str, ...]:
        return getattr(self, factor)


def draw_vocabulary(rng: np.random.Generator) -> Vocabulary:
    """Sizes and members vary per world, so no method is tuned to one fixed set of values."""

    def pick(pool: tuple[str, ...], low: int, high: int) -> tuple[str, ...]:
        count = int(rng.integers(low, high + 1))
        return tuple(pool[i] for i in np.sort(rng.choice(len(pool), count, replace=False)))

    unnamed_words = set(PATTERNS) | set(TRIMS)
    brands: set[str] = set()
    brand_count = int(rng.integers(12, 40))
    while len(brands) < brand_count:
        word = "".join(rng.choice(_SYLLABLES, int(rng.integers(2, 4))))
        if word not in unnamed_words:
            brands.add(word.capitalize())
    return Vocabulary(
        category=pick(SHAPES, 6, 8),
        colour=pick(tuple(COLOURS), 6, 8),
        pattern=pick(PATTERNS, 5, 8),
        trim=TRIMS,
        brands=tuple(sorted(brands)),
    )


def draw_items(vocab: Vocabulary, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per item: factor values, quality, nuisance draws and a title naming only named factors."""
    frame = pd.DataFrame(
        {factor: rng.choice(np.array(vocab.values(factor)), count) for factor in NAMED + UNNAMED}
    )
    frame["quality"] = rng.normal(0.0, 1.0, count)
    background = rng.integers(200, 256, (count, 3))
    frame["background"] = [tuple(int(v) for v in rgb) for rgb in background]
    frame["offset_x"] = rng.uniform(-0.12, 0.12, count)
    frame["offset_y"] = rng.uniform(-0.12, 0.12, count)
    frame["scale"] = rng.uniform(0.55, 0.85, count)
    frame["rotation"] = rng.uniform(-25.0, 25.0, count)
    frame["noise"] = rng.uniform(0.0, 7.0, count)
    frame["jpeg_quality"] = rng.integers(80, 96, count)
    frame["colour_jitter"] = [tuple(int(v) for v in d) for d in rng.normal(0, 9, (count, 3)).round()]
    brand = rng.choice(np.array(vocab.brands), count)
    descriptor = rng.choice(np.array(_DESCRIPTORS), count)
    with_descriptor = rng.random(count) < 0.5
    frame["title"] = [
        f"{b} {d + ' ' if use else ''}{c} {s}"
        for b, d, use, c, s in zip(
            brand, descriptor, with_descriptor, frame["colour"], frame["category"], strict=True
        )
    ]
    return frame

"""Small hand-built datasets for the evaluation tests: real parquet files and real PNG images, with a
hidden per-item colour that users have a taste for (so a good embedding has something to add)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 220, 40)]


def write_dataset(
    root: Path, items: pd.DataFrame, events: pd.DataFrame, oracle: pd.DataFrame | None = None
) -> Path:
    """Write items/events(/oracle).parquet and one tiny PNG per item under root/images."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    items = items.copy()
    items["image"] = [f"images/{i}.png" for i in items["item_id"]]
    for item_id, colour in zip(items["item_id"], items.get("colour", [0] * len(items)), strict=True):
        Image.new("RGB", (8, 8), COLOURS[int(colour) % len(COLOURS)]).save(root / "images" / f"{item_id}.png")
    items.to_parquet(root / "items.parquet", index=False)
    events.to_parquet(root / "events.parquet", index=False)
    if oracle is not None:
        oracle.to_parquet(root / "oracle.parquet", index=False)
    return root


@dataclass
class TasteWorld:
    root: Path
    items: pd.DataFrame  # item_id, title, category, colour (hidden factor)
    events: pd.DataFrame


def make_taste_world(
    root: Path,
    *,
    n_users: int = 120,
    n_items: int = 240,
    n_requests: int = 3000,
    page: int = 8,
    seed: int = 0,
) -> TasteWorld:
    """Users click items of their favourite colour; the second half of the catalogue only appears late
    (cold items). Titles and categories say nothing about colour: only an image-like embedding can."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, len(COLOURS), n_items)
    items = pd.DataFrame(
        {
            "item_id": [f"i{k:04d}" for k in range(n_items)],
            "title": [f"thing number{k % 7}" for k in range(n_items)],
            "category": [f"c{k % 3}" for k in range(n_items)],
            "colour": colour,
        }
    )
    taste = rng.integers(0, len(COLOURS), n_users)
    rows, oracle = [], []
    for r in range(n_requests):
        late = r >= int(0.85 * n_requests)
        pool = np.arange(n_items) if late else np.arange(n_items // 2)
        shown = rng.choice(pool, size=page, replace=False)
        user = int(rng.integers(n_users))
        p = np.where(colour[shown] == taste[user], 0.6, 0.08)
        clicks = rng.random(page) < p
        for k, c, pk in zip(shown, clicks, p, strict=True):
            rows.append((f"u{user}", f"r{r:05d}", items["item_id"][k], int(c), 1_000_000 + 1000 * r))
            oracle.append((f"r{r:05d}", items["item_id"][k], float(pk)))
    events = pd.DataFrame(rows, columns=["user_id", "request_id", "item_id", "clicked", "ts"])
    oracle_df = pd.DataFrame(oracle, columns=["request_id", "item_id", "p_click"])
    write_dataset(root, items, events, oracle_df)
    return TasteWorld(root, items, events)


def colour_embeddings(items: pd.DataFrame, noise: float = 0.1, dim: int = 8, seed: int = 1) -> np.ndarray:
    """Embeddings that carry the hidden colour (one-hot plus noise), as a good encoder would."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0, noise, (len(items), dim)).astype(np.float32)
    matrix[np.arange(len(items)), items["colour"].to_numpy()] += 1.0
    return matrix


def make_leaky_world(root: Path, *, peek: bool, n_requests: int = 1600, seed: int = 0) -> Path:
    """Old items are clicked at random (no signal at all); the test period shows new items that every
    user always clicks ("good") or never clicks ("bad"). Nothing before the test period can tell them
    apart, so an honest model scores ~0.5 there. With `peek`, copies of the test requests are also
    logged inside the train period: a model that sees them can reach ~1.0, which shows the world does
    reward peeking."""
    rng = np.random.default_rng(seed)
    n_old, n_new, page, n_users = 80, 40, 6, 50
    items = pd.DataFrame(
        {
            "item_id": [f"i{k:03d}" for k in range(n_old + n_new)],
            "title": ["plain thing"] * (n_old + n_new),
            "category": ["all"] * (n_old + n_new),
        }
    )
    good = rng.random(n_new) < 0.5
    n_train = int(0.8 * n_requests)
    rows = []
    for r in range(n_requests):
        user = f"u{rng.integers(n_users)}"
        if r < n_train:
            shown = rng.choice(n_old, page, replace=False)
            clicks = rng.random(page) < 0.3
        else:
            new = rng.choice(n_new, page, replace=False)
            shown, clicks = n_old + new, good[new]
        rows += [
            (user, f"r{r:05d}", f"i{k:03d}", int(c), 10_000 * (r + 1))
            for k, c in zip(shown, clicks, strict=True)
        ]
    events = pd.DataFrame(rows, columns=["user_id", "request_id", "item_id", "clicked", "ts"])
    if peek:
        test = events[events["ts"] > 10_000 * n_train].copy()
        # Interleave the copies with the last train requests: in the fit and the validation slices.
        test["ts"] = test["ts"] - 10_000 * (n_requests - n_train) + 5_000
        test["request_id"] = "peek-" + test["request_id"]
        events = pd.concat([events, test], ignore_index=True)
    write_dataset(root, items, events)
    return root

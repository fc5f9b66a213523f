"""Which page views and items every method trains on, as padded cache-row arrays.

Train page views need at least one click (an anchor) and one history image (something to reconstruct
from); the others are counted and reported, never silently dropped. The last `val_fraction` of them (in
time order) is held out for validation. Every method trains on the same items: those shown in train
requests; cold items are never seen by any encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from courier_core.timeline import build_requests, cold_items


@dataclass
class PageViews:
    history: np.ndarray  # int64 [P, L] image-cache rows, most recent last, -1 = padding
    items: np.ndarray  # int64 [P, M] image-cache rows, -1 = padding
    clicked: np.ndarray  # bool [P, M]
    users: np.ndarray  # int64 [P]

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def take(self, picks: np.ndarray) -> PageViews:
        return PageViews(self.history[picks], self.items[picks], self.clicked[picks], self.users[picks])


@dataclass
class TrainingData:
    train: PageViews
    val: PageViews
    item_rows: np.ndarray  # sorted image-cache rows of the items seen in train requests
    val_item_rows: np.ndarray  # distinct items of the validation page views (for item-level methods)
    categories: np.ndarray  # int64 category code per image-cache row
    titles: list[str]  # title per image-cache row
    stats: dict[str, Any] = field(default_factory=dict)


def build_training_data(
    items: pd.DataFrame,
    events: pd.DataFrame,
    row_of: dict[str, int],
    *,
    history: int,
    train_fraction: float,
    val_fraction: float,
    val_max_pages: int,
) -> TrainingData:
    """`row_of` maps item_id → image-cache row (the cache covers the whole catalogue)."""
    requests = build_requests(events, max_history=history, train_fraction=train_fraction)
    train = requests[requests["is_train"]]
    has_click = train["clicked"].map(any).to_numpy(dtype=bool)
    has_history = train["history"].map(len).to_numpy() > 0
    usable = train[has_click & has_history]
    if len(usable) < 2:
        raise ValueError(
            f"only {len(usable)} train page views have a click and a click history; training needs more "
            f"({len(train)} train requests: {int((~has_click).sum())} without clicks, "
            f"{int((has_click & ~has_history).sum())} with clicks but no history)"
        )
    n_val = min(max(1, int(round(val_fraction * len(usable)))), val_max_pages, len(usable) - 1)
    pages = _pad(usable, row_of, history)
    user_codes = pd.factorize(usable["user_id"])[0].astype(np.int64)
    pages.users = user_codes
    split = len(usable) - n_val
    train_pages = pages.take(np.arange(split))
    val_pages = pages.take(np.arange(split, len(usable)))

    seen = sorted({row_of[i] for page in train["item_ids"] for i in page})
    rows = pd.Series(row_of)
    aligned = items.set_index("item_id").loc[rows.index]
    categories = np.zeros(len(row_of), dtype=np.int64)
    categories[rows.to_numpy()] = pd.factorize(aligned["category"])[0]
    titles = [""] * len(row_of)
    for row, title in zip(rows.to_numpy().tolist(), aligned["title"].astype(str).tolist(), strict=True):
        titles[row] = title
    val_items = np.unique(val_pages.items[val_pages.items >= 0])
    stats = {
        "train_requests": int(len(train)),
        "test_requests": int(len(requests) - len(train)),
        "skipped_no_click": int((~has_click).sum()),
        "skipped_no_history": int((has_click & ~has_history).sum()),
        "train_page_views": int(split),
        "val_page_views": int(n_val),
        "train_items": len(seen),
        "cold_items": len(cold_items(requests)),
        "catalogue_items": len(row_of),
        "max_page_size": int(pages.items.shape[1]),
    }
    return TrainingData(
        train_pages, val_pages, np.asarray(seen, dtype=np.int64), val_items, categories, titles, stats
    )


def _pad(requests: pd.DataFrame, row_of: dict[str, int], history: int) -> PageViews:
    n = len(requests)
    max_page = max(len(p) for p in requests["item_ids"])
    hist = np.full((n, history), -1, dtype=np.int64)
    items = np.full((n, max_page), -1, dtype=np.int64)
    clicked = np.zeros((n, max_page), dtype=bool)
    for i, (page, clicks, past) in enumerate(
        zip(requests["item_ids"], requests["clicked"], requests["history"], strict=True)
    ):
        items[i, : len(page)] = [row_of[x] for x in page]
        clicked[i, : len(page)] = np.asarray(clicks, dtype=bool)
        past = past[-history:]
        hist[i, : len(past)] = [row_of[x] for x in past]
    return PageViews(hist, items, clicked, np.zeros(n, dtype=np.int64))


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The data order of one epoch: a pure function of (seed, epoch), so a resumed run replays it."""
    return np.random.default_rng([seed, epoch]).permutation(count)

"""Synthesised impressions for logs that record only clicks (purchases, reviews).

A page view needs items that were shown and not clicked. Without them the negatives are drawn: for each
page view, K items sold (clicked) in the same week, with probability proportional to their clicks that
week, from the category of one of the page's clicked items (the page's slots cycle through its clicks),
so the negatives look like what a shop would have put beside the click. Clicked items and repeats are
redrawn; a slot whose category has too few items that week falls back to the whole week's pool, and a
slot still empty after that stays empty (counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.importers.staging import week_of

_ROUNDS = 8


@dataclass
class NegativeStats:
    same_category: int = 0
    week_fallback: int = 0
    missing: int = 0  # slots left empty: the week had too few distinct items
    short_pages: int = 0  # page views that got fewer than K negatives

    def add(self, other: NegativeStats) -> None:
        for name in ("same_category", "week_fallback", "missing", "short_pages"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class _Pool:
    """Items with cumulative click weights, grouped by a key; one draw is a searchsorted per slot."""

    def __init__(self, keys: pd.DataFrame, items: np.ndarray, counts: np.ndarray) -> None:
        order = np.lexsort([items, *[keys[c].to_numpy() for c in reversed(keys.columns)]])
        self.items = items[order]
        sorted_keys = keys.iloc[order].reset_index(drop=True)
        group = sorted_keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        ends = np.r_[starts[1:], len(group)]
        self.cumulative = np.cumsum(counts[order].astype(np.float64))
        base = np.r_[0.0, self.cumulative][starts]
        labels = [tuple(row) for row in sorted_keys.iloc[starts].itertuples(index=False)]
        self.groups = {label: (s, e, b) for label, s, e, b in zip(labels, starts, ends, base, strict=True)}

    def draw(self, key: tuple, n: int, rng: np.random.Generator) -> np.ndarray | None:
        if key not in self.groups:
            return None
        start, end, base = self.groups[key]
        total = self.cumulative[end - 1] - base
        picks = np.searchsorted(self.cumulative[start:end], base + rng.random(n) * total, side="right")
        return self.items[start + np.minimum(picks, end - start - 1)]


class NegativeSampler:
    """Built once from the whole log's weekly popularity; `sample` runs per bucket of page views."""

    def __init__(self, popularity: pd.DataFrame, item_categories: np.ndarray, k: int) -> None:
        items = popularity["item"].to_numpy(dtype=np.int64)
        counts = popularity["count"].to_numpy(dtype=np.int64)
        weeks = pd.DataFrame({"week": popularity["week"].to_numpy(dtype=np.int64)})
        self.k = k
        self.n_items = len(item_categories)
        self.item_categories = item_categories
        self._by_category = _Pool(weeks.assign(category=item_categories[items]), items, counts)
        self._by_week = _Pool(weeks, items, counts)

    def sample(
        self, page: np.ndarray, item: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, NegativeStats]:
        """Negatives for the page views whose clicks are (page code, item code, page ts) rows.

        Returns (page code, item code) of each negative and what the sampling had to do.
        """
        stats = NegativeStats()
        order = np.lexsort((item, page))
        page, item, ts = page[order], item[order], ts[order]
        starts = np.flatnonzero(np.r_[True, page[1:] != page[:-1]])
        sizes = np.diff(np.r_[starts, len(page)])
        # Slot j of a page takes the category of the page's click j mod (its click count).
        slot_page_index = np.repeat(np.arange(len(starts)), self.k)
        slot_click = (
            starts[slot_page_index] + np.tile(np.arange(self.k), len(starts)) % sizes[slot_page_index]
        )
        slot_page = page[slot_click]
        slot_week = week_of(ts[slot_click])
        slot_category = self.item_categories[item[slot_click]]
        taken = np.sort(page.astype(np.int64) * self.n_items + item)  # (page, item) pairs already on a page
        chosen = np.full(len(slot_page), -1, dtype=np.int64)

        for pool, keys, counter in (
            (self._by_category, (slot_week, slot_category), "same_category"),
            (self._by_week, (slot_week,), "week_fallback"),
        ):
            for _ in range(_ROUNDS):
                pending = np.flatnonzero(chosen < 0)
                if not len(pending):
                    break
                drawn = self._draw(pool, [k[pending] for k in keys], rng)
                ok = drawn >= 0
                keys_new = slot_page[pending].astype(np.int64) * self.n_items + drawn
                ok &= ~_contains(taken, keys_new)
                ok &= (
                    ~pd.Series(np.where(ok, keys_new, -1 - np.arange(len(keys_new)))).duplicated().to_numpy()
                )
                chosen[pending[ok]] = drawn[ok]
                taken = np.sort(np.concatenate([taken, keys_new[ok]]))
                setattr(stats, counter, getattr(stats, counter) + int(ok.sum()))
        filled = chosen >= 0
        stats.missing = int((~filled).sum())
        stats.short_pages = int(len(np.unique(slot_page[~filled])))
        return slot_page[filled], chosen[filled], stats

    @staticmethod
    def _draw(pool: _Pool, keys: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        drawn = np.full(len(keys[0]), -1, dtype=np.int64)
        frame = pd.DataFrame({str(i): k for i, k in enumerate(keys)})
        for label, positions in frame.groupby(list(frame.columns), sort=True).indices.items():
            key = label if isinstance(label, tuple) else (label,)
            picks = pool.draw(tuple(int(v) for v in key), len(positions), rng)
            if picks is not None:
                drawn[positions] = picks
        return drawn


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Membership by binary search (np.isin re-hashes both arrays on every call)."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    positions = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[positions] == keys

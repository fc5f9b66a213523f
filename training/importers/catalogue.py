"""The items an import keeps, addressed by small integer codes while events stream through.

Events name items by id; keeping whole id strings for every event of a big log costs memory, so each
event carries the item's code (its row here). Items left out (no image, duplicate id) keep their reason,
so an event that names one is skipped under that reason instead of a vague "unknown item".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from training.importers.tables import RowFilter

ITEM_FIELDS = ("item_id", "image", "title", "category")


class Catalogue:
    """`items`: item_id (unique), image, title, category; `dropped`: item_id → why it was left out."""

    def __init__(self, items: pd.DataFrame, source: str, dropped: dict[str, str] | None = None) -> None:
        missing = [f for f in ITEM_FIELDS if f not in items.columns]
        if missing:
            raise ValueError(f"catalogue needs columns {missing}")
        if items["item_id"].duplicated().any():
            raise ValueError("catalogue item ids must be unique")
        self.items = items.reset_index(drop=True)
        self.source = source
        self.dropped = dict(dropped or {})
        self._index = pd.Index(self.items["item_id"].to_numpy(dtype=object))
        self.arrow_ids = pa.array(self.items["item_id"].to_numpy(dtype=object), pa.string())
        self.category_codes, self.category_names = pd.factorize(self.items["category"], sort=True)

    def __len__(self) -> int:
        return len(self.items)

    def codes(self, item_ids: np.ndarray) -> np.ndarray:
        """int64 code per id, -1 where the catalogue does not hold it."""
        return self._index.get_indexer(item_ids).astype(np.int64)

    def why_missing(self, item_ids: np.ndarray) -> np.ndarray:
        """For ids without a code: the reason they were left out, or 'not in <source>'."""
        unknown = f"not in {self.source}"
        return np.array([self.dropped.get(i, unknown) for i in item_ids.tolist()], dtype=object)

    def ids(self, codes: np.ndarray) -> np.ndarray:
        return self.items["item_id"].to_numpy(dtype=object)[codes]


def drop_duplicates(items: pd.DataFrame, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Keep each item id's first row; returns (kept items, their rows, source rows of the dropped ones)."""
    repeated = items["item_id"].duplicated(keep="first").to_numpy()
    return items[~repeated], rows[~repeated], rows[repeated]


def resolve_items(catalogue: Catalogue, item_ids: np.ndarray, rows: RowFilter, column: str) -> np.ndarray:
    """Catalogue codes of `item_ids` (-1 where dropped); rows naming an item the catalogue lacks are
    dropped from `rows`, counted by why the item is missing."""
    codes = np.full(len(item_ids), -1, dtype=np.int64)
    codes[rows.ok] = catalogue.codes(item_ids[rows.ok])
    missing = np.flatnonzero(rows.ok & (codes < 0))
    if len(missing):
        reasons = pd.Series(catalogue.why_missing(item_ids[missing]))
        for reason, positions in reasons.groupby(reasons, sort=True).indices.items():
            bad = np.zeros(len(item_ids), dtype=bool)
            bad[missing[positions]] = True
            rows.drop(column, f"item {reason}", bad)
    return codes

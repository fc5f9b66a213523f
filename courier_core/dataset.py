"""Load and validate a dataset directory (docs/design.md, "Dataset contract"): items, events and the optional oracle.

Every loader goes through `load_dataset`, so a bad log fails at once with a message naming the file, the
column and the first offending rows, instead of being silently dropped somewhere downstream.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from courier_core.images import ImageError, read_image_file

ITEMS_FILE = "items.parquet"
EVENTS_FILE = "events.parquet"
ORACLE_FILE = "oracle.parquet"

ImageCheck = Literal["sample", "full", "none"]
IMAGE_SAMPLE_SIZE = 64
_CHECK_DECODE_SIZE = 8
_SHOWN_ROWS = 5

ITEM_COLUMNS = {"item_id": "string", "image": "string", "title": "string", "category": "string"}
EVENT_COLUMNS = {
    "user_id": "string",
    "request_id": "string",
    "item_id": "string",
    "clicked": "integer",
    "ts": "integer",
}
ORACLE_COLUMNS = {"request_id": "string", "item_id": "string", "p_click": "float"}


class DatasetError(ValueError):
    """A contract violation; `file` and `column` say where, the message shows the first offending rows."""

    def __init__(self, file: str, column: str | None, problem: str, rows: pd.DataFrame | None = None) -> None:
        where = f"{file}, column '{column}'" if column else file
        message = f"{where}: {problem}"
        if rows is not None and len(rows):
            message += f"\n{len(rows)} offending row(s); first {min(len(rows), _SHOWN_ROWS)}:\n"
            message += rows.head(_SHOWN_ROWS).to_string()
        super().__init__(message)
        self.file = file
        self.column = column
        self.problem = problem


@dataclass
class Dataset:
    """A validated dataset directory. `items` and `events` keep every column of the files."""

    root: Path
    items: pd.DataFrame
    events: pd.DataFrame
    oracle: pd.DataFrame | None
    _images: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def image_source(self, item_id: str) -> str:
        """Absolute path of the item's image (relative paths resolve against `root`), or its URL as is."""
        if not self._images:
            self._images = dict(zip(self.items["item_id"], self.items["image"], strict=True))
        image = self._images[item_id]
        return image if is_url(image) else str((self.root / image).resolve())


def is_url(image: str) -> bool:
    return image.startswith(("http://", "https://"))


def load_dataset(root: str | Path, *, image_check: ImageCheck = "sample") -> Dataset:
    """Read and validate `root`; raise `DatasetError` on the first violation.

    image_check: "sample" checks that every local image file exists and decodes a sample of them,
    "full" decodes all of them, "none" skips images. URLs are never fetched. Dtypes are normalised:
    `clicked` and `ts` to int64, `p_click` to float64.
    """
    if image_check not in ("sample", "full", "none"):
        raise ValueError(f"image_check must be 'sample', 'full' or 'none', not {image_check!r}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(str(root), None, "dataset directory does not exist")
    items = _read_table(root, ITEMS_FILE, ITEM_COLUMNS)
    events = _read_table(root, EVENTS_FILE, EVENT_COLUMNS)
    _check_items(items)
    _check_events(events, items)
    oracle = None
    if (root / ORACLE_FILE).exists():
        oracle = _read_table(root, ORACLE_FILE, ORACLE_COLUMNS)
        _check_oracle(oracle, events)
    if image_check != "none":
        _check_images(root, items, full=image_check == "full")
    return Dataset(root=root.resolve(), items=items, events=events, oracle=oracle)


def _read_table(root: Path, name: str, columns: dict[str, str]) -> pd.DataFrame:
    path = root / name
    if not path.exists():
        raise DatasetError(name, None, f"file is missing (expected {path})")
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(name, None, f"cannot read parquet: {exc}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DatasetError(name, missing[0], f"missing column(s) {missing}; found {list(frame.columns)}")
    if not len(frame):
        raise DatasetError(name, None, "file has no rows")
    for column, kind in columns.items():
        frame[column] = _checked_column(frame, name, column, kind)
    return frame


_KIND_CHECKS: dict[str, Callable[[object], bool]] = {
    "integer": pd.api.types.is_integer_dtype,
    "float": lambda dtype: pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype),
}


def _checked_column(frame: pd.DataFrame, name: str, column: str, kind: str) -> pd.Series:
    values = frame[column]
    nulls = values.isna().to_numpy()
    if nulls.any():
        raise DatasetError(name, column, "null values are not allowed", frame[nulls])
    if kind == "string":
        if isinstance(values.dtype, pd.StringDtype):
            return values
        not_str = ~values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if not_str.any():
            raise DatasetError(name, column, f"expected strings, got dtype {values.dtype}", frame[not_str])
        return values
    if not _KIND_CHECKS[kind](values.dtype):
        raise DatasetError(name, column, f"expected {kind} values, got dtype {values.dtype}", frame.head())
    return values.astype(np.int64 if kind == "integer" else np.float64)


def _check_items(items: pd.DataFrame) -> None:
    duplicated = items["item_id"].duplicated(keep=False).to_numpy()
    if duplicated.any():
        rows = items[duplicated].sort_values("item_id")
        raise DatasetError(ITEMS_FILE, "item_id", "duplicate item ids", rows)
    empty = (items["image"].str.len() == 0).to_numpy()
    if empty.any():
        raise DatasetError(ITEMS_FILE, "image", "empty image reference", items[empty])


def _check_events(events: pd.DataFrame, items: pd.DataFrame) -> None:
    bad_label = ~events["clicked"].isin([0, 1]).to_numpy()
    if bad_label.any():
        raise DatasetError(EVENTS_FILE, "clicked", "labels must be 0 or 1", events[bad_label])
    unknown = ~events["item_id"].isin(items["item_id"]).to_numpy()
    if unknown.any():
        raise DatasetError(EVENTS_FILE, "item_id", f"events for items not in {ITEMS_FILE}", events[unknown])
    per_request = events.groupby("request_id", sort=False)[["user_id", "ts"]].nunique()
    for column in ("user_id", "ts"):
        spread = per_request.index[per_request[column].to_numpy() > 1]
        if len(spread):
            rows = events[events["request_id"].isin(spread[:_SHOWN_ROWS])].sort_values("request_id")
            problem = f"{len(spread)} request(s) spread over several {column} values (one page view has one)"
            raise DatasetError(EVENTS_FILE, column, problem, rows)
    repeated = events.duplicated(["request_id", "item_id"], keep=False).to_numpy()
    if repeated.any():
        rows = events[repeated].sort_values(["request_id", "item_id"])
        raise DatasetError(EVENTS_FILE, "item_id", "an item is shown twice in one request", rows)


def _check_oracle(oracle: pd.DataFrame, events: pd.DataFrame) -> None:
    p_click = oracle["p_click"].to_numpy()
    outside = ~((p_click >= 0.0) & (p_click <= 1.0))
    if outside.any():
        raise DatasetError(ORACLE_FILE, "p_click", "probabilities must lie in [0, 1]", oracle[outside])
    keys = ["request_id", "item_id"]
    repeated = oracle.duplicated(keys, keep=False).to_numpy()
    if repeated.any():
        raise DatasetError(ORACLE_FILE, "item_id", "duplicate (request_id, item_id) rows", oracle[repeated])
    joined = oracle[keys].merge(events[keys], on=keys, how="outer", indicator=True)
    only_oracle = joined[joined["_merge"] == "left_only"][keys]
    if len(only_oracle):
        raise DatasetError(ORACLE_FILE, "request_id", f"rows for no event in {EVENTS_FILE}", only_oracle)
    only_events = joined[joined["_merge"] == "right_only"][keys]
    if len(only_events):
        raise DatasetError(
            ORACLE_FILE, "p_click", f"no probability for these {EVENTS_FILE} rows", only_events
        )


def _check_images(root: Path, items: pd.DataFrame, *, full: bool) -> None:
    local = items[~items["image"].map(is_url).to_numpy(dtype=bool)]
    if not len(local):
        return
    paths = [root / image for image in local["image"]]
    missing = np.array([not os.path.isfile(path) for path in paths])
    if missing.any():
        raise DatasetError(ITEMS_FILE, "image", f"image files not found under {root}", local[missing])
    if full:
        positions = np.arange(len(local))
    else:
        rng = np.random.default_rng(0)
        positions = np.sort(rng.permutation(len(local))[:IMAGE_SAMPLE_SIZE])
    unreadable, reasons = [], []
    for position in positions:
        try:
            read_image_file(paths[position], _CHECK_DECODE_SIZE)
        except ImageError as exc:
            unreadable.append(position)
            reasons.append(str(exc))
    if unreadable:
        rows = local.iloc[unreadable][["item_id", "image"]].assign(error=reasons)
        checked = "all" if full else f"a sample of {len(positions)}"
        raise DatasetError(ITEMS_FILE, "image", f"unreadable image files ({checked} checked)", rows)

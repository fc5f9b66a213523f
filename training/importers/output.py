"""Write the contract's files from page-view files: events.parquet, items.parquet and dataset.json.

Items whose image could not be had (a failed download) leave with every row that shows them; a page view
left without a click by that leaves too, when its impressions were synthesised around the clicks. Files
are written under temporary names and renamed at the end, so a failed import leaves no half dataset.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from courier_core.dataset import EVENTS_FILE, ITEMS_FILE
from training.importers.catalogue import Catalogue
from training.importers.pages import Source
from training.importers.provenance import PROVENANCE_FILE
from training.importers.skips import SkipLedger, SourceError

WORK_DIR = ".import-work"
_OURS = {ITEMS_FILE, EVENTS_FILE, PROVENANCE_FILE, "images", ".courier_cache", WORK_DIR}
EVENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("request_id", pa.string()),
        ("item_id", pa.string()),
        ("clicked", pa.int8()),
        ("ts", pa.int64()),
    ]
)
ITEM_SCHEMA = pa.schema(
    [("item_id", pa.string()), ("image", pa.string()), ("title", pa.string()), ("category", pa.string())]
)


@dataclass(frozen=True)
class Written:
    items: int
    events: int
    requests: int
    clicks: int


@contextmanager
def work_directory(out: Path) -> Iterator[Path]:
    """A scratch directory inside `out` (new, or an earlier import's), removed however the import ends."""
    if out.exists():
        strangers = sorted(p.name for p in out.iterdir() if p.name not in _OURS)
        if strangers:
            problem = f"output directory holds files no import wrote ({strangers[:5]}); choose an empty one"
            raise SourceError(str(out), None, problem)
    work = out / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_dataset(
    out: Path,
    catalogue: Catalogue,
    page_files: list[Path],
    failed: dict[int, str],
    *,
    synthesised: bool,
    source: Source,
    ledger: SkipLedger,
) -> Written:
    """events.parquet and items.parquet from the page files, leaving out items in `failed` (code → why)."""
    failed_codes = np.fromiter(failed, dtype=np.int64, count=len(failed))
    shown = np.zeros(len(catalogue), dtype=bool)
    requests = events = clicks = 0
    staging = out / f".{EVENTS_FILE}.partial"
    with pq.ParquetWriter(staging, EVENT_SCHEMA) as writer:
        for path in page_files:
            pages = pq.read_table(path).to_pandas()
            if len(failed_codes):
                pages = _without_failed(pages, failed_codes, failed, catalogue, synthesised, source, ledger)
            if not len(pages):
                continue
            table = pa.table(
                {
                    "user_id": pa.array(pages["user_id"], pa.string()),
                    "request_id": pa.array(pages["request_id"], pa.string()),
                    "item_id": catalogue.arrow_ids.take(pa.array(pages["item"].to_numpy())),
                    "clicked": pa.array(pages["clicked"].to_numpy(dtype=np.int8)),
                    "ts": pa.array(pages["ts"].to_numpy(dtype=np.int64)),
                },
                schema=EVENT_SCHEMA,
            )
            writer.write_table(table)
            shown[pages["item"].to_numpy()] = True
            requests += pages["request_id"].nunique()
            events += len(pages)
            clicks += int(pages["clicked"].sum())
    if not events:
        staging.unlink(missing_ok=True)
        raise SourceError(source.file, None, f"no page view is left after the skips below\n{ledger.report()}")
    unused = ~shown
    unused[failed_codes] = False
    ledger.add(
        catalogue.source,
        None,
        f"item in no kept page view (left out of {ITEMS_FILE})",
        int(unused.sum()),
        [f"item {i!r}" for i in catalogue.ids(np.flatnonzero(unused)[:3])],
    )
    items = catalogue.items[shown][list(ITEM_SCHEMA.names)]
    items_staging = out / f".{ITEMS_FILE}.partial"
    pq.write_table(pa.Table.from_pandas(items, schema=ITEM_SCHEMA, preserve_index=False), items_staging)
    os.replace(items_staging, out / ITEMS_FILE)
    os.replace(staging, out / EVENTS_FILE)
    return Written(int(shown.sum()), events, requests, clicks)


def _without_failed(
    pages: pd.DataFrame,
    failed_codes: np.ndarray,
    failed: dict[int, str],
    catalogue: Catalogue,
    synthesised: bool,
    source: Source,
    ledger: SkipLedger,
) -> pd.DataFrame:
    items = pages["item"].to_numpy()
    gone = np.isin(items, failed_codes)
    logged = np.flatnonzero(gone & (pages["row"].to_numpy() >= 0))  # source rows, not synthesised ones
    reasons = pd.Series([failed[int(code)] for code in items[logged]], dtype=object)
    for reason, positions in reasons.groupby(reasons, sort=True).indices.items():
        rows = pages.iloc[logged[positions]]
        examples = [
            f"{source.where(int(r.row))}: item {catalogue.ids(np.array([r.item]))[0]!r}"
            for r in rows.head(3).itertuples(index=False)
        ]
        ledger.add(source.file, source.item_column, f"item image unavailable: {reason}", len(rows), examples)
    kept = pages[~gone]
    if synthesised:
        has_click = kept.groupby("request_id", sort=False)["clicked"].transform("max").to_numpy() == 1
        kept = kept[has_click]
    return kept

"""A generic click or impression log (CSV, TSV, JSON lines, parquet) plus an items file → dataset.

Column names are the user's (`--map user_id=COL,...`). Without a request column, a user's events within
one time window form a page view; without a click column, every row is a click and the unclicked part of
each page view is sampled (`training.importers.negatives`), recorded as synthesised in dataset.json.
Local image paths resolve against `images_root` and are stored relative to the output directory (the
images stay where they are); URLs are kept as they are.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from courier_core.dataset import is_url
from training.importers import parsing
from training.importers.catalogue import Catalogue, resolve_items
from training.importers.finish import ImportResult, finish_import
from training.importers.output import work_directory
from training.importers.pages import PageConfig, Source
from training.importers.skips import SkipLedger, SourceError, keep_good
from training.importers.staging import BUCKET_INPUT_BYTES, Staging, bucket_count
from training.importers.tables import Chunk, RowFilter, TableFile

EVENT_FIELDS = ("user_id", "item_id", "ts")
OPTIONAL_EVENT_FIELDS = ("request_id", "clicked")
ITEM_FIELDS = ("item_id", "image")
OPTIONAL_ITEM_FIELDS = ("title", "category")
NO_IMAGE = "has no image"
IMAGE_NOT_FOUND = "image file not found under the images root"


@dataclass(frozen=True)
class LogsConfig:
    events: Path
    items: Path
    out: Path
    events_map: dict[str, str]  # contract field -> column of the events file
    items_map: dict[str, str] | None = None  # None: item_id, image, and title/category if the file has them
    ts_format: str = "auto"
    images_root: Path | None = None  # None: the items file's directory
    page_window: str = "30min"  # page views without a request column
    negatives: int = 10  # synthesised per page view when there is no click column
    seed: int = 0
    bucket_bytes: int = BUCKET_INPUT_BYTES


def import_logs(config: LogsConfig, ledger: SkipLedger) -> ImportResult:
    has_requests = "request_id" in config.events_map
    has_labels = "clicked" in config.events_map
    window_ms = None if has_requests else parsing.duration_ms(config.page_window, "--page-window")
    parse_ts = parsing.TimestampParser(config.ts_format)
    items_file = TableFile(config.items, ledger)
    events = TableFile(config.events, ledger)
    events.require(config.events_map.values())
    out = config.out.resolve()
    with work_directory(out) as work:
        images_root = (config.images_root or config.items.parent).resolve()
        items_map = config.items_map or default_items_map(items_file)
        catalogue = read_items(items_file, items_map, images_root, out, ledger)
        size = events.path.stat().st_size
        staging = Staging(
            work / "staged",
            bucket_count(size, config.bucket_bytes),
            "request_id" if has_requests else "user_id",
        )
        for number, chunk in enumerate(events.read(list(dict.fromkeys(config.events_map.values())))):
            staging.add(_events(chunk, events, config.events_map, catalogue, parse_ts, first=number == 0))
        staging.close()
        if has_requests:
            pages_text = f"the log's request ids (column {config.events_map['request_id']!r}); a page view's ts is its earliest row's"
        else:
            pages_text = (
                f"a user's events within one {config.page_window} window (UTC, aligned to the epoch) form one page "
                "view; request_id = user_id@window start, ts = the window start"
            )
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
        return finish_import(
            out=out,
            work=work,
            catalogue=catalogue,
            staging=staging,
            pages=PageConfig(window_ms, 0 if has_labels else config.negatives, config.seed),
            source=Source(events.name, events.where, config.events_map["item_id"]),
            ledger=ledger,
            provenance={
                "importer": "logs",
                "source": "generic log",
                "inputs": {"events": str(config.events.resolve()), "items": str(config.items.resolve())},
                "settings": {**settings, "ts_format_resolved": parse_ts.resolved},
                "page_views": pages_text,
                "items": f"columns {items_map}; local images resolved against {images_root}",
            },
        )


def _events(
    chunk: Chunk,
    events: TableFile,
    mapping: dict[str, str],
    catalogue: Catalogue,
    parse_ts: parsing.TimestampParser,
    *,
    first: bool,
) -> pd.DataFrame:
    rows = RowFilter(events, chunk)
    frame = chunk.frame
    users, bad = parsing.ids(frame[mapping["user_id"]])
    rows.drop(mapping["user_id"], "missing user id", bad, show=False)
    ts, bad = parse_ts(frame[mapping["ts"]])
    if first and bad.all():
        value = frame[mapping["ts"]].iloc[0]
        raise SourceError(
            events.name,
            mapping["ts"],
            f"no timestamp of the first {len(frame):,} rows parses with --ts-format {parse_ts.fmt} "
            f"(as {parse_ts.resolved}); {events.where(int(chunk.rows[0]))}: {value!r}",
        )
    rows.drop(mapping["ts"], f"timestamp does not parse as {parse_ts.resolved}", bad)
    staged = {"user_id": users, "ts": ts, "row": chunk.rows}
    if "request_id" in mapping:
        staged["request_id"], bad = parsing.ids(frame[mapping["request_id"]])
        rows.drop(mapping["request_id"], "missing request id", bad, show=False)
    if "clicked" in mapping:
        staged["clicked"], bad = parsing.labels(frame[mapping["clicked"]])
        rows.drop(mapping["clicked"], "click label is not 0/1/true/false", bad)
    item_ids, bad = parsing.ids(frame[mapping["item_id"]])
    rows.drop(mapping["item_id"], "missing item id", bad, show=False)
    staged["item"] = resolve_items(catalogue, item_ids, rows, mapping["item_id"])
    return pd.DataFrame(staged)[rows.ok]


def default_items_map(items_file: TableFile) -> dict[str, str]:
    found = items_file.columns()
    return {f: f for f in ITEM_FIELDS + OPTIONAL_ITEM_FIELDS if f in ITEM_FIELDS or f in found}


def read_items(
    items_file: TableFile, mapping: dict[str, str], images_root: Path, out: Path, ledger: SkipLedger
) -> Catalogue:
    """Items with an image (a URL, or a file under `images_root`); duplicate ids stop the import."""
    columns = list(dict.fromkeys(mapping.values()))
    parts = list(items_file.read(columns))
    frame = pd.concat([c.frame for c in parts], ignore_index=True)
    rows = np.concatenate([c.rows for c in parts])
    ids, bad = parsing.ids(frame[mapping["item_id"]])
    ok = keep_good(
        ledger, items_file.name, mapping["item_id"], "missing item id", bad, rows, None, items_file.where
    )
    repeated = ok & pd.Series(ids).duplicated(keep=False).to_numpy()
    if repeated.any():
        shown = "; ".join(
            f"{items_file.where(int(r))}: {i!r}"
            for r, i in zip(rows[repeated][:5], ids[repeated][:5], strict=True)
        )
        raise SourceError(
            items_file.name, mapping["item_id"], f"duplicate item ids ({int(repeated.sum())} rows): {shown}"
        )
    images = parsing.texts(frame[mapping["image"]])
    dropped: dict[str, str] = {}
    no_image = ok & (images == "")
    keep_good(ledger, items_file.name, mapping["image"], NO_IMAGE, no_image, rows, None, items_file.where)
    dropped.update(dict.fromkeys(ids[no_image].tolist(), NO_IMAGE))
    local = ok & ~no_image & ~np.array([is_url(i) for i in images], dtype=bool)
    absolute = np.array(
        [str(images_root / i) if local[n] else "" for n, i in enumerate(images)], dtype=object
    )
    missing = local & ~np.array([os.path.isfile(p) if p else False for p in absolute], dtype=bool)
    keep_good(
        ledger, items_file.name, mapping["image"], IMAGE_NOT_FOUND, missing, rows, images, items_file.where
    )
    dropped.update(dict.fromkeys(ids[missing].tolist(), IMAGE_NOT_FOUND))
    stored = np.where(local, [os.path.relpath(p, out) if p else "" for p in absolute], images)
    keep = ok & ~no_image & ~missing
    texts = {
        f: parsing.texts(frame[mapping[f]]) if f in mapping else np.full(len(frame), "", dtype=object)
        for f in OPTIONAL_ITEM_FIELDS
    }
    items = pd.DataFrame(
        {
            "item_id": ids,
            "image": stored,
            "title": texts["title"],
            "category": np.where(texts["category"] == "", "unknown", texts["category"]),
        }
    )
    return Catalogue(items[keep], items_file.name, dropped)

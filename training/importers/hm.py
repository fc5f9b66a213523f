"""H&M Personalized Fashion Recommendations (Kaggle) → dataset: purchases become page views.

Layout: `articles.csv` (article_id, product_code, prod_name, product_type_name, product_group_name,
colour_group_name, ...), `transactions_train.csv` (t_dat, customer_id, article_id, price,
sales_channel_id) and `images/<first 3 digits>/<10-digit article_id>.jpg`. The log holds purchases only,
so a customer's purchases of one day form the clicks of one page view and the rest of the page is
sampled (`training.importers.negatives`). Title = product name, type and colour group (what a ranker's
text features would hold); category = product group. Images are read where they are (paths relative to
the output directory); articles without an image file are left out, counted.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.importers import parsing
from training.importers.catalogue import Catalogue, resolve_items
from training.importers.finish import ImportResult, finish_import
from training.importers.output import work_directory
from training.importers.pages import PageConfig, Source
from training.importers.skips import SkipLedger, SourceError, keep_good
from training.importers.staging import BUCKET_INPUT_BYTES, DAY_MS, Staging, bucket_count
from training.importers.tables import Chunk, RowFilter, TableFile

ARTICLES_FILE = "articles.csv"
TRANSACTIONS_FILE = "transactions_train.csv"
IMAGES_DIR = "images"
ARTICLE_COLUMNS = ["article_id", "prod_name", "product_type_name", "product_group_name", "colour_group_name"]
TRANSACTION_COLUMNS = ["t_dat", "customer_id", "article_id"]
NO_IMAGE = f"has no image file under {IMAGES_DIR}/"


@dataclass(frozen=True)
class HMConfig:
    src: Path
    out: Path
    negatives: int = 10
    min_user_events: int = 2
    max_users: int | None = None
    since: str | None = None  # YYYY-MM-DD: purchases before this day are skipped
    seed: int = 0
    bucket_bytes: int = BUCKET_INPUT_BYTES


def import_hm(config: HMConfig, ledger: SkipLedger) -> ImportResult:
    since_ms = parsing.date_ms(config.since, "--since") if config.since else None
    articles = TableFile(config.src / ARTICLES_FILE, ledger)
    transactions = TableFile(config.src / TRANSACTIONS_FILE, ledger)
    transactions.require(TRANSACTION_COLUMNS)
    if not (config.src / IMAGES_DIR).is_dir():
        raise SourceError(f"{IMAGES_DIR}/", None, f"image directory not found: {config.src / IMAGES_DIR}")
    out = config.out.resolve()
    with work_directory(out) as work:
        catalogue = read_articles(articles, config.src / IMAGES_DIR, out, ledger)
        staging = Staging(
            work / "staged", bucket_count(transactions.path.stat().st_size, config.bucket_bytes), "user_id"
        )
        parse_day = parsing.TimestampParser("%Y-%m-%d")
        for chunk in transactions.read(TRANSACTION_COLUMNS):
            staging.add(_purchases(chunk, transactions, catalogue, parse_day, since_ms, config.since))
        staging.close()
        return finish_import(
            out=out,
            work=work,
            catalogue=catalogue,
            staging=staging,
            pages=PageConfig(DAY_MS, config.negatives, config.seed, config.min_user_events, config.max_users),
            source=Source(transactions.name, transactions.where, "article_id"),
            ledger=ledger,
            provenance={
                "importer": "hm",
                "source": "H&M Personalized Fashion Recommendations",
                "inputs": {
                    "src": str(config.src.resolve()),
                    "files": [ARTICLES_FILE, TRANSACTIONS_FILE, f"{IMAGES_DIR}/"],
                },
                "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
                "page_views": "a customer's purchases of one UTC day (t_dat) are the clicks of one page view; "
                "request_id = customer_id@date, ts = that midnight",
                "items": "title = prod_name + product_type_name + colour_group_name; category = product_group_name",
            },
        )


def _purchases(
    chunk: Chunk,
    transactions: TableFile,
    catalogue: Catalogue,
    parse_day: parsing.TimestampParser,
    since_ms: int | None,
    since: str | None,
) -> pd.DataFrame:
    """One chunk of transactions as staged rows (user_id, item, ts, row); bad rows counted."""
    rows = RowFilter(transactions, chunk)
    customers, bad_customer = parsing.ids(chunk.frame["customer_id"])
    rows.drop("customer_id", "missing customer id", bad_customer, show=False)
    day, bad_day = parse_day(chunk.frame["t_dat"])
    rows.drop("t_dat", "not a YYYY-MM-DD date", bad_day)
    if since_ms is not None:
        rows.drop("t_dat", f"before --since {since}", day < since_ms)
    article_ids, bad_article = _article_ids(chunk.frame["article_id"])
    rows.drop("article_id", "not a numeric article id", bad_article)
    codes = resolve_items(catalogue, article_ids, rows, "article_id")
    ok = rows.ok
    return pd.DataFrame({"user_id": customers[ok], "item": codes[ok], "ts": day[ok], "row": chunk.rows[ok]})


def read_articles(articles: TableFile, images_dir: Path, out: Path, ledger: SkipLedger) -> Catalogue:
    """Articles with an image file; a duplicate article_id stops the import (which row would be right?)."""
    frames, all_rows = [], []
    for chunk in articles.read(ARTICLE_COLUMNS):
        frames.append(chunk.frame)
        all_rows.append(chunk.rows)
    frame = pd.concat(frames, ignore_index=True)
    rows = np.concatenate(all_rows)
    ids, bad = _article_ids(frame["article_id"])
    raw = frame["article_id"].to_numpy(dtype=object)
    ok = keep_good(
        ledger, articles.name, "article_id", "not a numeric article id", bad, rows, raw, articles.where
    )
    frame, rows, ids = frame[ok].reset_index(drop=True), rows[ok], ids[ok]
    repeated = pd.Series(ids).duplicated(keep=False).to_numpy()
    if repeated.any():
        shown = ", ".join(
            f"{articles.where(int(r))}: {i!r}"
            for r, i in zip(rows[repeated][:5], ids[repeated][:5], strict=True)
        )
        raise SourceError(
            articles.name, "article_id", f"duplicate article ids ({int(repeated.sum())} rows), e.g. {shown}"
        )
    images = np.array([f"{i[:3]}/{i}.jpg" for i in ids], dtype=object)
    present = _image_files(images_dir)
    has_image = np.array([image in present for image in images], dtype=bool)
    keep_good(ledger, articles.name, "article_id", NO_IMAGE, ~has_image, rows, images, articles.where)
    relative_dir = os.path.relpath(images_dir.resolve(), out)
    titles = [
        " ".join(part for part in parts if part)
        for parts in zip(
            *(parsing.texts(frame[c]) for c in ("prod_name", "product_type_name", "colour_group_name")),
            strict=True,
        )
    ]
    category = parsing.texts(frame["product_group_name"])
    items = pd.DataFrame(
        {
            "item_id": ids,
            "image": [f"{relative_dir}/{image}" for image in images],
            "title": titles,
            "category": np.where(category == "", "unknown", category),
        }
    )
    return Catalogue(items[has_image], articles.name, dict.fromkeys(ids[~has_image].tolist(), NO_IMAGE))


def _article_ids(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """10-digit article ids and a mask of the non-numeric ones: the CSV keeps the leading zero, a
    spreadsheet round trip may have dropped it."""
    ids, _ = parsing.ids(values)
    out = np.array([i.zfill(10) if i is not None and i.isdigit() else "" for i in ids.tolist()], dtype=object)
    return out, out == ""


def _image_files(images_dir: Path) -> set[str]:
    """'0XX/0XXXXXXXXX.jpg' of every image file (one directory walk, not a stat per article)."""
    return {
        f"{sub.name}/{entry.name}"
        for sub in os.scandir(images_dir)
        if sub.is_dir()
        for entry in os.scandir(sub.path)
        if entry.is_file()
    }

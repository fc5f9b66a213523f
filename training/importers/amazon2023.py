"""Amazon Reviews 2023 (McAuley Lab) → dataset: a user's reviews of one day are a page view's clicks.

Layout: `<Category>.jsonl` (rating, title, text, images, asin, parent_asin, user_id, timestamp in ms,
helpful_vote, verified_purchase) and `meta_<Category>.jsonl` (main_category, title, categories, images
[{thumb, large, variant, hi_res}], parent_asin, ...), optionally gzipped. Items are parent ASINs; the image
is the MAIN variant's (else the first) at the chosen size; category = the first `category_depth` levels
of `categories` (else main_category). Reviews are the only interactions, so the rest of each page view
is sampled as for H&M. Images stay URLs, or are fetched into the dataset by `downloads.download_images`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from training.importers import parsing
from training.importers.catalogue import Catalogue, resolve_items
from training.importers.downloads import DownloadConfig, download_images
from training.importers.finish import ImportResult, finish_import
from training.importers.output import work_directory
from training.importers.pages import PageConfig, Source
from training.importers.skips import SkipLedger, SourceError, keep_good
from training.importers.staging import BUCKET_INPUT_BYTES, Staging, bucket_count
from training.importers.tables import Chunk, RowFilter, TableFile

REVIEW_FIELDS = ["user_id", "parent_asin", "timestamp"]
META_FIELDS = ["parent_asin", "title", "main_category", "categories", "images"]
IMAGE_SIZES = ("large", "hi_res", "thumb")
NO_IMAGE = "has no product image"
DUPLICATE = "duplicate parent_asin (the first record is kept)"


@dataclass(frozen=True)
class AmazonConfig:
    src: Path
    category: str
    out: Path
    negatives: int = 10
    min_user_events: int = 2
    max_users: int | None = None
    since: str | None = None  # YYYY-MM-DD: reviews before this day are skipped
    seed: int = 0
    page_window: str = "1d"
    images: str = "url"  # "url": keep the URLs; "download": fetch them into OUT/images
    image_size: str = "large"  # preferred field of the image record, others are fallbacks
    category_depth: int = 3
    download: DownloadConfig = field(default_factory=DownloadConfig)
    bucket_bytes: int = BUCKET_INPUT_BYTES


def import_amazon2023(config: AmazonConfig, ledger: SkipLedger) -> ImportResult:
    if config.images not in ("url", "download"):
        raise ValueError(f"--images must be url or download, not {config.images!r}")
    if config.image_size not in IMAGE_SIZES:
        raise ValueError(f"--image-size must be one of {', '.join(IMAGE_SIZES)}, not {config.image_size!r}")
    since_ms = parsing.date_ms(config.since, "--since") if config.since else None
    window_ms = parsing.duration_ms(config.page_window, "--page-window")
    reviews = TableFile(_find(config.src, config.category), ledger)
    meta = TableFile(_find(config.src, f"meta_{config.category}"), ledger)
    reviews.require(REVIEW_FIELDS)
    out = config.out.resolve()
    with work_directory(out) as work:
        catalogue = read_meta(meta, config.image_size, config.category_depth, ledger)
        staging = Staging(
            work / "staged", bucket_count(reviews.path.stat().st_size, config.bucket_bytes), "user_id"
        )
        parse_ts = parsing.TimestampParser("ms")
        for chunk in reviews.read(REVIEW_FIELDS):
            staging.add(_reviews(chunk, reviews, catalogue, parse_ts, since_ms, config.since))
        staging.close()

        def fetch(catalogue: Catalogue, shown: np.ndarray) -> tuple[dict[int, str], list[str]]:
            return _download(catalogue, shown, out, config.download)

        settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
        return finish_import(
            out=out,
            work=work,
            catalogue=catalogue,
            staging=staging,
            pages=PageConfig(
                window_ms, config.negatives, config.seed, config.min_user_events, config.max_users
            ),
            source=Source(reviews.name, reviews.where, "parent_asin"),
            ledger=ledger,
            provenance={
                "importer": "amazon2023",
                "source": f"Amazon Reviews 2023, category {config.category}",
                "inputs": {"reviews": str(reviews.path), "meta": str(meta.path)},
                "settings": settings,
                "page_views": f"a user's reviews within one {config.page_window} window (UTC) are the clicks of one "
                "page view; request_id = user_id@window start, ts = the window start",
                "items": f"item_id = parent_asin; image = the MAIN image's {config.image_size} URL "
                f"({'fetched into images/' if config.images == 'download' else 'kept as a URL'}); "
                f"category = first {config.category_depth} levels of categories, else main_category",
            },
            localise=fetch if config.images == "download" else None,
        )


def _find(src: Path, stem: str) -> Path:
    for suffix in (".jsonl", ".jsonl.gz"):
        if (src / f"{stem}{suffix}").is_file():
            return src / f"{stem}{suffix}"
    raise SourceError(f"{stem}.jsonl", None, f"file not found in {src} (also looked for {stem}.jsonl.gz)")


def _reviews(
    chunk: Chunk,
    reviews: TableFile,
    catalogue: Catalogue,
    parse_ts: parsing.TimestampParser,
    since_ms: int | None,
    since: str | None,
) -> pd.DataFrame:
    rows = RowFilter(reviews, chunk)
    users, bad = parsing.ids(chunk.frame["user_id"])
    rows.drop("user_id", "missing user_id", bad, show=False)
    ts, bad = parse_ts(chunk.frame["timestamp"])
    rows.drop("timestamp", "timestamp is not a number of ms", bad)
    if since_ms is not None:
        rows.drop("timestamp", f"before --since {since}", ts < since_ms)
    asins, bad = parsing.ids(chunk.frame["parent_asin"])
    rows.drop("parent_asin", "missing parent_asin", bad, show=False)
    codes = resolve_items(catalogue, asins, rows, "parent_asin")
    ok = rows.ok
    return pd.DataFrame({"user_id": users[ok], "item": codes[ok], "ts": ts[ok], "row": chunk.rows[ok]})


def read_meta(meta: TableFile, image_size: str, depth: int, ledger: SkipLedger) -> Catalogue:
    parts = list(meta.read(META_FIELDS))
    frame = pd.concat([c.frame for c in parts], ignore_index=True)
    rows = np.concatenate([c.rows for c in parts])
    ids, bad = parsing.ids(frame["parent_asin"])
    ok = keep_good(ledger, meta.name, "parent_asin", "missing parent_asin", bad, rows, None, meta.where)
    repeated = ok & pd.Series(np.where(ok, ids, None)).duplicated(keep="first").to_numpy()
    ok &= keep_good(ledger, meta.name, "parent_asin", DUPLICATE, repeated, rows, ids, meta.where)
    images = np.array([_image_url(v, image_size) for v in frame["images"].tolist()], dtype=object)
    no_image = ok & (images == "")
    keep_good(ledger, meta.name, "images", NO_IMAGE, no_image, rows, ids, meta.where)
    categories = [
        _category(c, m, depth) for c, m in zip(frame["categories"], frame["main_category"], strict=True)
    ]
    items = pd.DataFrame(
        {"item_id": ids, "image": images, "title": parsing.texts(frame["title"]), "category": categories}
    )
    keep = ok & ~no_image
    return Catalogue(items[keep], meta.name, dict.fromkeys(ids[no_image].tolist(), NO_IMAGE))


def _image_url(images: object, size: str) -> str:
    """The MAIN image (else the first) at `size`, falling back to the other sizes; '' when none."""
    if not isinstance(images, list):
        return ""
    records = [r for r in images if isinstance(r, dict)]
    main = [r for r in records if r.get("variant") == "MAIN"] + records
    for record in main[:1]:
        for key in (size, *IMAGE_SIZES):
            value = record.get(key)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                return value
    return ""


def _category(categories: object, main_category: object, depth: int) -> str:
    if isinstance(categories, list) and categories:
        return " > ".join(str(c) for c in categories[:depth])
    return str(main_category) if isinstance(main_category, str) and main_category else "unknown"


def _download(
    catalogue: Catalogue, shown: np.ndarray, out: Path, config: DownloadConfig
) -> tuple[dict[int, str], list[str]]:
    codes = np.flatnonzero(shown)
    urls = catalogue.items["image"].to_numpy(dtype=object)[codes]
    report = download_images(urls.tolist(), out, config)
    failed: dict[int, str] = {}
    for code, url in zip(codes.tolist(), urls.tolist(), strict=True):
        if url in report.failed:
            failed[code] = report.failed[url].code
        else:
            catalogue.items.at[code, "image"] = report.paths[url]
    return failed, [report.summary()]

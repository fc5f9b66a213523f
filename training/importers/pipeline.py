"""From staged interactions to page-view files: bucket by bucket, users filtered and sampled, negatives drawn.

Each bucket becomes one parquet file of page rows (request_id, user_id, item, clicked, ts) in
`work_dir`; `output.write_dataset` turns them into the contract's files once the images are settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training.importers.catalogue import Catalogue
from training.importers.negatives import NegativeSampler, NegativeStats
from training.importers.pages import PageConfig, Source, form_pages, keep_users, user_clicks
from training.importers.progress import Progress
from training.importers.skips import SkipLedger
from training.importers.staging import Staging

PAGE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("user_id", pa.string()),
        ("item", pa.int32()),
        ("clicked", pa.int8()),
        ("ts", pa.int64()),
        ("row", pa.int64()),  # source row; -1 for synthesised impressions
    ]
)


@dataclass
class PageViews:
    files: list[Path]
    shown: np.ndarray  # bool per catalogue code: the item is in some kept page view
    negatives: NegativeStats = field(default_factory=NegativeStats)
    eligible_users: int | None = None  # users passing min_user_events, when --max-users sampled them


def build_page_views(
    staging: Staging,
    catalogue: Catalogue,
    config: PageConfig,
    source: Source,
    ledger: SkipLedger,
    work_dir: Path,
) -> PageViews:
    sampler = None
    if config.negatives > 0:
        sampler = NegativeSampler(staging.popularity(), catalogue.category_codes, config.negatives)
    result = PageViews(files=[], shown=np.zeros(len(catalogue), dtype=bool))
    selected = None
    if config.max_users is not None:
        selected, result.eligible_users = _sample_users(staging, config, source)
    with Progress("building page views", total=len(staging.buckets()), unit="buckets") as progress:
        for bucket, path in staging.buckets():
            pages = form_pages(staging.read(path), config, source, ledger)
            pages = _filter_users(pages, config, selected, source, ledger)
            if sampler is not None and len(pages):
                pages, stats = _add_negatives(pages, sampler, np.random.default_rng([config.seed, bucket]))
                result.negatives.add(stats)
            request_code = pd.factorize(pages["request_id"])[0]
            pages = pages.iloc[np.lexsort((pages["item"].to_numpy(), request_code, pages["ts"].to_numpy()))]
            out = work_dir / f"pages-{bucket:04d}.parquet"
            pq.write_table(
                pa.Table.from_pandas(pages[PAGE_SCHEMA.names], schema=PAGE_SCHEMA, preserve_index=False), out
            )
            result.files.append(out)
            result.shown[pages["item"].to_numpy()] = True
            progress.update(1)
    return result


def _filter_users(
    pages: pd.DataFrame, config: PageConfig, selected: set[str] | None, source: Source, ledger: SkipLedger
) -> pd.DataFrame:
    if config.min_user_events > 1:
        counts = pages["user_id"].map(user_clicks(pages)).fillna(0).to_numpy()
        reason = f"user has fewer than --min-user-events {config.min_user_events} clicks"
        pages = keep_users(pages, counts >= config.min_user_events, reason, source, ledger)
    if selected is not None:
        keep = pages["user_id"].isin(selected).to_numpy()
        reason = f"user not in the seeded --max-users {config.max_users} sample"
        pages = keep_users(pages, keep, reason, source, ledger)
    return pages


def _sample_users(staging: Staging, config: PageConfig, source: Source) -> tuple[set[str], int]:
    """The `max_users` eligible users with the smallest seeded hash: a uniform sample, same for a seed."""
    hash_key = f"courier{config.seed:09d}"[-16:].rjust(16, "0")
    best = pd.Series(dtype=np.uint64)
    eligible = 0
    with Progress("sampling users", total=len(staging.buckets()), unit="buckets") as progress:
        for _, path in staging.buckets():
            pages = form_pages(staging.read(path), config, source, SkipLedger())  # counted in the real pass
            counts = user_clicks(pages)
            users = counts.index[counts.to_numpy() >= config.min_user_events].to_numpy(dtype=object)
            eligible += len(users)
            scores = pd.Series(pd.util.hash_array(users, hash_key=hash_key), index=users)
            best = pd.concat([best, scores]).nsmallest(config.max_users)
            progress.update(1)
    return set(best.index), eligible


def _add_negatives(
    pages: pd.DataFrame, sampler: NegativeSampler, rng: np.random.Generator
) -> tuple[pd.DataFrame, NegativeStats]:
    clicks = pages[pages["clicked"].to_numpy() == 1]
    page_codes, page_ids = pd.factorize(clicks["request_id"])
    page, item, stats = sampler.sample(
        page_codes.astype(np.int64),
        clicks["item"].to_numpy(dtype=np.int64),
        clicks["ts"].to_numpy(dtype=np.int64),
        rng,
    )
    first_row = np.unique(page_codes, return_index=True)[1]  # codes are 0..n-1: row n is page n's first
    negatives = pd.DataFrame(
        {
            "request_id": np.asarray(page_ids, dtype=object)[page],
            "user_id": clicks["user_id"].to_numpy(dtype=object)[first_row][page],
            "item": item.astype(np.int32),
            "clicked": np.int8(0),
            "ts": clicks["ts"].to_numpy(dtype=np.int64)[first_row][page],
            "row": np.int64(-1),
        }
    )
    return pd.concat([pages, negatives], ignore_index=True), stats

"""Page views from one bucket of staged interactions: request ids or time windows, merged repeats, users.

The contract wants one row per item shown in a page view, one user and one timestamp per page view. Logs
bend that: a purchase log has no page views (a user's clicks in one time window become one), an
impression log may stamp a page's rows a few ms apart (the page takes its earliest), may show an item
twice in a page (merged, clicked if either was), or may reuse a request id across users (those rows are
skipped). Every such change is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.importers.skips import SkipLedger

_EXAMPLES = 3


@dataclass(frozen=True)
class PageConfig:
    """How page views are built. `window_ms` None: the log's request ids are the page views."""

    window_ms: int | None = None
    negatives: int = 0  # synthesised impressions per page view; 0 when the log has real ones
    seed: int = 0
    min_user_events: int = 1  # distinct clicked (page view, item) pairs a user needs to be kept
    max_users: int | None = None  # seeded sample of the users who pass min_user_events


@dataclass(frozen=True)
class Source:
    """Where the staged rows came from, for skip reports: the events file and how to name a row."""

    file: str
    where: Callable[[int], str]  # 0-based data row -> "line 12" / "row 12"
    item_column: str = "item_id"


def form_pages(rows: pd.DataFrame, config: PageConfig, source: Source, ledger: SkipLedger) -> pd.DataFrame:
    """Staged rows → page rows (request_id, user_id, item, clicked, ts, row), repeats merged.

    Grouping runs on integer codes, and each page view's request id string is made once and shared by
    its rows: a bucket holds millions of rows, and a Python string per row per step would not fit.
    """
    rows = rows.reset_index(drop=True)
    if config.window_ms is None:
        rows = _one_user_per_request(rows, source, ledger)
        page, request_ids = pd.factorize(rows["request_id"])
        request_ids = np.asarray(request_ids, dtype=object)
        page_ts = np.full(len(request_ids), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(page_ts, page, rows["ts"].to_numpy(dtype=np.int64))  # a page view's earliest row
    else:
        user, users = pd.factorize(rows["user_id"])
        start = rows["ts"].to_numpy(dtype=np.int64) // config.window_ms * config.window_ms
        start_code, starts = pd.factorize(start)
        page, page_keys = pd.factorize(user.astype(np.int64) * len(starts) + start_code)
        page_user, page_start = np.divmod(page_keys, len(starts))
        page_ts = np.asarray(starts)[page_start]
        request_ids = np.asarray(users, dtype=object)[page_user] + "@" + _stamp(page_ts, config.window_ms)
    key = page.astype(np.int64) * (int(rows["item"].max()) + 1) + rows["item"].to_numpy(dtype=np.int64)
    clicked = rows["clicked"].to_numpy(dtype=np.int8)
    repeated = pd.Series(key).duplicated(keep="first").to_numpy()
    if repeated.any():
        clicked = pd.Series(clicked).groupby(key, sort=False).transform("max").to_numpy(dtype=np.int8)
    pages = pd.DataFrame(
        {
            "request_id": request_ids[page],
            "user_id": rows["user_id"],
            "item": rows["item"].to_numpy(dtype=np.int32),
            "clicked": clicked,
            "ts": page_ts[page],
            "row": rows["row"].to_numpy(dtype=np.int64),
        }
    )
    if repeated.any():
        what = "the same item twice in one page view (merged; clicked if any copy was)"
        ledger.add(source.file, None, what, int(repeated.sum()), _examples(pages[repeated], source))
    return pages[~repeated].reset_index(drop=True)


def user_clicks(pages: pd.DataFrame) -> pd.Series:
    """Clicked (page view, item) pairs per user."""
    return pages[pages["clicked"].to_numpy() == 1].groupby("user_id", sort=False).size()


def keep_users(
    pages: pd.DataFrame, keep: np.ndarray, reason: str, source: Source, ledger: SkipLedger
) -> pd.DataFrame:
    """`pages` restricted to rows where `keep` (a row mask) holds; the others counted under `reason`."""
    if not keep.all():
        ledger.add(source.file, "user_id", reason, int((~keep).sum()), _examples(pages[~keep], source))
    return pages[keep].reset_index(drop=True)


def _one_user_per_request(rows: pd.DataFrame, source: Source, ledger: SkipLedger) -> pd.DataFrame:
    page = pd.factorize(rows["request_id"])[0]
    user = pd.factorize(rows["user_id"])[0]
    users = pd.Series(user).groupby(page, sort=False).transform("nunique").to_numpy()
    shared = users > 1
    if shared.any():
        ledger.add(
            source.file,
            "request_id",
            "request id shared by several users (one page view has one user)",
            int(shared.sum()),
            _examples(rows[shared], source),
        )
    return rows[~shared]


def _stamp(start_ms: np.ndarray, window_ms: int) -> np.ndarray:
    """Readable window starts for request ids: a date for whole-day windows, else date and time."""
    fmt = "%Y-%m-%d" if window_ms % 86_400_000 == 0 else "%Y-%m-%dT%H:%M:%S"
    unique, inverse = np.unique(start_ms, return_inverse=True)
    text = pd.to_datetime(unique, unit="ms", utc=True).strftime(fmt).to_numpy(dtype=object)
    return text[inverse.reshape(-1)]


def _examples(rows: pd.DataFrame, source: Source) -> list[str]:
    return [
        f"{source.where(int(r.row))}: user {r.user_id!r}, request {r.request_id!r}"
        if isinstance(r.request_id, str)
        else f"{source.where(int(r.row))}: user {r.user_id!r}"
        for r in rows.head(_EXAMPLES).itertuples(index=False)
    ]

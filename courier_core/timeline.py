"""Page views in time order: the chronological split and each request's click history (docs/design.md, "Dataset contract").

Training and evaluation both need "what had this user clicked before this page view", so it is computed
once, here, with grouped numpy operations rather than a Python loop over events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REQUEST_COLUMNS = ["request_id", "user_id", "ts", "is_train", "item_ids", "clicked", "history"]


def build_requests(
    events: pd.DataFrame, *, max_history: int = 20, train_fraction: float = 0.8
) -> pd.DataFrame:
    """One row per request, sorted by (ts, request_id); the first `train_fraction` of them are train.

    Columns: request_id, user_id, ts, is_train (bool), item_ids (list[str], in the events' row order),
    clicked (list[int]), history (list[str]): the user's clicked items in requests with a strictly
    smaller ts, most recent last, at most `max_history`.
    """
    if max_history < 0:
        raise ValueError(f"max_history must be >= 0, not {max_history}")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], not {train_fraction}")
    if not len(events):
        return pd.DataFrame({column: [] for column in REQUEST_COLUMNS})

    request_ids = events["request_id"].to_numpy(dtype=object)
    ts = events["ts"].to_numpy(dtype=np.int64)
    request_code = pd.factorize(request_ids, sort=True)[0]
    # Stable order: time, then request id, then the row order within a page.
    order = np.lexsort((np.arange(len(events)), request_code, ts))
    item_ids = events["item_id"].to_numpy(dtype=object)[order]
    clicked = events["clicked"].to_numpy(dtype=np.int64)[order]
    users = events["user_id"].to_numpy(dtype=object)[order]
    ts = ts[order]
    request_code = request_code[order]

    starts = np.flatnonzero(np.r_[True, request_code[1:] != request_code[:-1]])
    bounds = np.r_[starts, len(order)]
    n_requests = len(starts)
    requests = pd.DataFrame(
        {
            "request_id": request_ids[order][starts],
            "user_id": users[starts],
            "ts": ts[starts],
            "is_train": np.arange(n_requests) < int(round(train_fraction * n_requests)),
            "item_ids": _split(item_ids, bounds),
            "clicked": _split(clicked, bounds),
        }
    )
    requests["history"] = _histories(users, ts, item_ids, clicked, starts, max_history)
    return requests


def cold_items(requests: pd.DataFrame) -> set[str]:
    """Items shown in no train request: only their image can tell the ranker anything about them."""
    train = requests["item_ids"][requests["is_train"]]
    test = requests["item_ids"][~requests["is_train"]]
    seen = {item for page in train for item in page}
    return {item for page in test for item in page} - seen


def _split(values: np.ndarray, bounds: np.ndarray) -> list[list]:
    values = values.tolist()
    return [values[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def _histories(
    users: np.ndarray,
    ts: np.ndarray,
    item_ids: np.ndarray,
    clicked: np.ndarray,
    starts: np.ndarray,
    max_history: int,
) -> list[list[str]]:
    """For each request, a slice of the user's time-ordered clicks: those with a smaller ts."""
    user_code = pd.factorize(users)[0].astype(np.int64)
    ts_rank = np.unique(ts, return_inverse=True)[1].astype(np.int64)
    # (user, ts) packed into one sortable integer: clicks sorted by it are grouped by user, then time.
    key = user_code * (int(ts_rank.max()) + 2) + ts_rank
    click_rows = np.flatnonzero(clicked == 1)  # rows are already in (ts, request, position) order
    click_order = click_rows[np.argsort(key[click_rows], kind="stable")]
    click_keys = key[click_order]
    click_items = item_ids[click_order].tolist()

    request_key = key[starts]
    end = np.searchsorted(click_keys, request_key, side="left")
    user_start = np.searchsorted(click_keys, request_key - ts_rank[starts], side="left")
    begin = np.maximum(user_start, end - max_history)
    return [click_items[b:e] for b, e in zip(begin.tolist(), end.tolist(), strict=True)]

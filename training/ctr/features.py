"""Turn a dataset's requests into index arrays the CTR model gathers from, built once per evaluation.

Every catalogue-indexed table keeps row 0 as padding, so a history position holds a catalogue row + 1
(0 = empty). Id vocabularies come from the *fit* slice only (train period minus the validation slice):
an item or user the model never trained on falls into the unknown bucket (index 1 for items, 0 for users),
which is what keeps test-period events out of the model.

Besides the clicked history, a request may carry its *skipped* history: items shown to the same user in
strictly earlier requests and not clicked. Real rankers use it because a page view shows ~10 items for each
click, so skips hold far more evidence of taste than clicks do.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIT, VAL, TEST = 0, 1, 2
ITEM_PAD, ITEM_UNKNOWN = 0, 1
USER_UNKNOWN = 0
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class FeatureConfig:
    max_history: int = 20
    skip_history: int = 0  # shown-but-not-clicked items per request (0 = off)
    val_fraction: float = 0.1  # share of the train period's requests, taken from its end
    title_tokens: int = 8
    token_buckets: int = 4096


@dataclass
class CTRFeatures:
    """Per impression (flat arrays) plus per request and per catalogue row tables."""

    catalogue_ids: list[str]  # catalogue row r+1 <-> catalogue_ids[r]
    request_ids: np.ndarray  # [R] str
    imp_request: np.ndarray  # [I] row into the request tables
    imp_row: np.ndarray  # [I] catalogue row + 1 of the shown item
    imp_user: np.ndarray  # [I] user vocab index (0 = unknown)
    imp_user_code: np.ndarray  # [I] user code over all users (for GAUC)
    imp_label: np.ndarray  # [I] float32 0/1
    imp_split: np.ndarray  # [I] FIT / VAL / TEST
    imp_cold: np.ndarray  # [I] bool: item in no train-period request
    hist_rows: np.ndarray  # [R, L] catalogue row + 1 of clicked history items (0 = empty)
    skip_rows: np.ndarray  # [R, K] catalogue row + 1 of skipped history items (0 = empty; K may be 0)
    item_vocab: np.ndarray  # [N+1] catalogue row + 1 -> item-id index (0 pad, 1 unknown)
    row_category: np.ndarray  # [N+1] category index (0 pad)
    row_tokens: np.ndarray  # [N+1, T] hashed title token index (0 pad)
    n_users: int
    n_items: int
    n_categories: int
    n_tokens: int

    def impressions(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.imp_split == split)


def title_token_ids(title: str, max_tokens: int, buckets: int) -> list[int]:
    """Hashed word ids in 1..buckets (crc32, stable across processes)."""
    words = _TOKEN.findall(str(title).lower())[:max_tokens]
    return [zlib.crc32(w.encode()) % buckets + 1 for w in words]


def _split_of_requests(is_train: np.ndarray, val_fraction: float) -> np.ndarray:
    split = np.where(is_train, FIT, TEST).astype(np.int8)
    train_rows = np.flatnonzero(is_train)
    n_val = max(1, int(round(len(train_rows) * val_fraction))) if len(train_rows) > 1 else 0
    if n_val:
        split[train_rows[-n_val:]] = VAL
    return split


def build_features(items: pd.DataFrame, requests: pd.DataFrame, config: FeatureConfig) -> CTRFeatures:
    """Build every index array from the catalogue and the time-ordered requests of `build_requests`."""
    catalogue_ids = items["item_id"].astype(str).tolist()
    row_of = pd.Index(catalogue_ids)
    requests = requests.reset_index(drop=True)
    n_req = len(requests)

    lengths = requests["item_ids"].map(len).to_numpy()
    imp_request = np.repeat(np.arange(n_req), lengths)
    flat_items = np.concatenate([np.asarray(x, dtype=object) for x in requests["item_ids"]]) if n_req else []
    imp_row = row_of.get_indexer(pd.Index(flat_items)) + 1
    if (imp_row == 0).any():
        missing = sorted({str(x) for x in np.asarray(flat_items)[imp_row == 0]})[:5]
        raise ValueError(f"events name items missing from items.parquet, first: {missing}")
    imp_label = np.concatenate([np.asarray(x, dtype=np.float32) for x in requests["clicked"]])

    req_split = _split_of_requests(requests["is_train"].to_numpy(bool), config.val_fraction)
    imp_split = req_split[imp_request]

    train_rows = np.unique(imp_row[imp_split != TEST])
    imp_cold = ~np.isin(imp_row, train_rows)

    fit_rows = np.unique(imp_row[imp_split == FIT])
    item_vocab = np.full(len(catalogue_ids) + 1, ITEM_UNKNOWN, dtype=np.int64)
    item_vocab[ITEM_PAD] = ITEM_PAD
    item_vocab[fit_rows] = np.arange(2, len(fit_rows) + 2)

    user_codes, user_names = pd.factorize(requests["user_id"].astype(str))
    req_user_code = user_codes.astype(np.int64)
    fit_users = np.unique(req_user_code[req_split == FIT])
    user_vocab = np.full(len(user_names), USER_UNKNOWN, dtype=np.int64)
    user_vocab[fit_users] = np.arange(1, len(fit_users) + 1)

    hist_rows = np.zeros((n_req, config.max_history), dtype=np.int64)
    for r, history in enumerate(requests["history"]):
        recent = list(history)[-config.max_history :]
        if recent:
            hist_rows[r, : len(recent)] = row_of.get_indexer(pd.Index(recent)) + 1

    req_ts = requests["ts"].to_numpy(np.int64)
    skip_rows = skipped_history(imp_request, imp_row, imp_label, req_user_code, req_ts, config.skip_history)

    cat_codes, cat_names = pd.factorize(items["category"].astype(str))
    row_category = np.concatenate([[0], cat_codes + 1]).astype(np.int64)
    row_tokens = np.zeros((len(catalogue_ids) + 1, config.title_tokens), dtype=np.int64)
    for r, title in enumerate(items["title"].astype(str), start=1):
        ids = title_token_ids(title, config.title_tokens, config.token_buckets)
        row_tokens[r, : len(ids)] = ids

    return CTRFeatures(
        catalogue_ids=catalogue_ids,
        request_ids=requests["request_id"].astype(str).to_numpy(),
        imp_request=imp_request,
        imp_row=imp_row.astype(np.int64),
        imp_user=user_vocab[req_user_code][imp_request],
        imp_user_code=req_user_code[imp_request],
        imp_label=imp_label,
        imp_split=imp_split,
        imp_cold=imp_cold,
        hist_rows=hist_rows,
        skip_rows=skip_rows,
        item_vocab=item_vocab,
        row_category=row_category,
        row_tokens=row_tokens,
        n_users=len(fit_users) + 1,
        n_items=len(fit_rows) + 2,
        n_categories=len(cat_names) + 1,
        n_tokens=config.token_buckets + 1,
    )


def skipped_history(
    imp_request: np.ndarray,
    imp_row: np.ndarray,
    imp_label: np.ndarray,
    req_user: np.ndarray,
    req_ts: np.ndarray,
    k: int,
) -> np.ndarray:
    """[R, k] rows + 1 of the items each request's user was shown and did not click in requests with a
    strictly smaller ts, most recent last (0 = empty). Impressions must be in request (time) order."""
    n_req = len(req_ts)
    skips = np.flatnonzero(imp_label == 0)
    if k <= 0 or not len(skips):
        return np.zeros((n_req, max(k, 0)), dtype=np.int64)
    ts_rank = np.unique(req_ts, return_inverse=True)[1].astype(np.int64)
    # (user, ts) packed into one sortable integer: skips sorted by it are grouped by user, then time.
    key = req_user.astype(np.int64) * (int(ts_rank.max()) + 2) + ts_rank
    skips = skips[np.argsort(key[imp_request[skips]], kind="stable")]
    skip_keys = key[imp_request[skips]]
    end = np.searchsorted(skip_keys, key, side="left")
    begin = np.maximum(np.searchsorted(skip_keys, key - ts_rank, side="left"), end - k)
    # Laid out like the clicked history: oldest first, zero padding after the most recent.
    position = begin[:, None] + np.arange(k)[None, :]
    rows = imp_row[skips][np.minimum(position, len(skips) - 1)]
    return np.where(position < end[:, None], rows, 0).astype(np.int64)


def aligned_embeddings(catalogue_ids: list[str], item_ids: list[str], matrix: np.ndarray) -> np.ndarray:
    """[N+1, D] L2-normalised float32 in catalogue-row order, row 0 zeros (padding)."""
    position = pd.Index(item_ids).get_indexer(pd.Index(catalogue_ids))
    rows = matrix[position].astype(np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = rows / np.maximum(norms, 1e-12)
    return np.vstack([np.zeros((1, rows.shape[1]), dtype=np.float32), rows])

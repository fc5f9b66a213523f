"""`python -m training check DIR [--full]`: validate a dataset against the contract and summarise it.

Exit 0 with a summary when the dataset is valid, 1 with the violation (file, column, first rows) if not.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from courier_core.dataset import Dataset, DatasetError, is_url, load_dataset
from courier_core.timeline import build_requests, cold_items


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="dataset directory (items.parquet, events.parquet[, oracle.parquet])")
    parser.add_argument("--full", action="store_true", help="decode every local image, not a sample")
    parser.add_argument("--max-history", type=int, default=20, help="history length cap (default 20)")
    parser.add_argument("--train-fraction", type=float, default=0.8, help="train share of requests")


def run(args: argparse.Namespace) -> int:
    try:
        dataset = load_dataset(args.dataset, image_check="full" if args.full else "sample")
    except DatasetError as exc:
        print(f"INVALID dataset {args.dataset}\n{exc}")
        return 1
    requests = build_requests(
        dataset.events, max_history=args.max_history, train_fraction=args.train_fraction
    )
    print(summarise(dataset, requests, full=args.full))
    return 0


def summarise(dataset: Dataset, requests: pd.DataFrame, *, full: bool) -> str:
    """Human-readable figures a user checks before training: sizes, split, CTR, cold items, history."""
    items, events = dataset.items, dataset.events
    urls = int(items["image"].map(is_url).sum())
    train_ids = set(requests.loc[requests["is_train"], "request_id"])
    in_train = events["request_id"].isin(train_ids).to_numpy()
    cold = cold_items(requests)
    test_events = events[~in_train]
    cold_impressions = int(test_events["item_id"].isin(cold).sum())
    history = requests["history"].map(len).to_numpy()
    quantiles = np.percentile(history, [0, 25, 50, 75, 100]).astype(int)
    checked = "all decoded" if full else "all present, a sample decoded"
    n_train = int(requests["is_train"].sum())
    lines = [
        f"dataset {dataset.root}: OK",
        f"  items        {len(items):>9,}  ({len(items) - urls:,} local images, {urls:,} URLs; local: {checked})",
        f"  users        {events['user_id'].nunique():>9,}",
        f"  requests     {len(requests):>9,}  (train {n_train:,} / test {len(requests) - n_train:,})",
        f"  events       {len(events):>9,}  (train {int(in_train.sum()):,} / test {int((~in_train).sum()):,})",
        f"  CTR          {events['clicked'].mean():>9.4f}  (train {_mean(events['clicked'][in_train]):.4f}"
        f" / test {_mean(test_events['clicked']):.4f})",
        f"  cold items   {len(cold):>9,}  in test, {cold_impressions:,} test impressions "
        f"({cold_impressions / max(1, len(test_events)):.1%} of test)",
        f"  history      mean {history.mean():.1f}, min/25%/50%/75%/max {'/'.join(map(str, quantiles))},"
        f" empty {np.mean(history == 0):.1%}",
        f"  items shown  {events['item_id'].nunique():,} of {len(items):,}; categories {items['category'].nunique()}",
    ]
    if dataset.oracle is not None:
        lines.append(
            f"  oracle       mean p_click {dataset.oracle['p_click'].mean():.4f} (for the oracle AUC)"
        )
    else:
        lines.append("  oracle       none")
    return "\n".join(lines)


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")

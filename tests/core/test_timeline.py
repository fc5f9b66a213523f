"""build_requests: chronological split, strictly-earlier capped histories, cold items."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from courier_core.timeline import build_requests, cold_items


def events_frame(rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "request_id", "item_id", "clicked", "ts"])


def test_history_is_strictly_earlier_most_recent_last_and_capped():
    events = events_frame(
        [
            ("u", "r1", "a", 1, 100),
            ("u", "r1", "b", 1, 100),
            ("u", "r2", "c", 1, 200),
            ("u", "r2", "d", 0, 200),
            ("u", "r3", "e", 1, 200),  # same ts as r2: neither sees the other's clicks
            ("u", "r4", "f", 0, 300),
            ("v", "r5", "g", 1, 50),  # another user's clicks never leak in
        ]
    )
    requests = build_requests(events, max_history=2).set_index("request_id")
    assert requests.loc["r1", "history"] == []
    assert requests.loc["r2", "history"] == ["a", "b"]
    assert requests.loc["r3", "history"] == ["a", "b"]
    assert requests.loc["r4", "history"] == ["c", "e"]  # capped at 2, most recent last
    assert requests.loc["r5", "history"] == []
    uncapped = build_requests(events, max_history=20).set_index("request_id")
    assert uncapped.loc["r4", "history"] == ["a", "b", "c", "e"]
    assert build_requests(events, max_history=0)["history"].map(len).max() == 0


def test_rows_sorted_by_time_then_request_and_split_by_order():
    events = events_frame(
        [(f"u{k % 3}", f"r{k:02d}", f"i{k}", k % 2, 1000 - 10 * (k // 2)) for k in range(10)]
    )
    requests = build_requests(events, train_fraction=0.8)
    keys = list(zip(requests["ts"], requests["request_id"], strict=True))
    assert keys == sorted(keys)
    assert requests["is_train"].tolist() == [True] * 8 + [False] * 2
    assert list(requests.columns) == [
        "request_id",
        "user_id",
        "ts",
        "is_train",
        "item_ids",
        "clicked",
        "history",
    ]


def test_page_keeps_item_order_and_labels():
    events = events_frame([("u", "r1", "z", 0, 5), ("u", "r1", "a", 1, 5), ("u", "r1", "m", 0, 5)])
    row = build_requests(events).iloc[0]
    assert row["item_ids"] == ["z", "a", "m"] and row["clicked"] == [0, 1, 0]


def test_cold_items_are_those_in_no_train_request():
    events = events_frame(
        [("u", "r1", "a", 1, 1), ("u", "r2", "b", 0, 2), ("u", "r3", "a", 0, 3), ("u", "r3", "c", 1, 3)]
    )
    requests = build_requests(events, train_fraction=0.67)
    assert requests["is_train"].tolist() == [True, True, False]
    assert cold_items(requests) == {"c"}


def test_matches_a_brute_force_history_on_random_logs():
    rng = np.random.default_rng(3)
    n_requests, page = 400, 4
    users = rng.integers(0, 20, n_requests)
    times = rng.integers(0, 60, n_requests)  # many ties
    events = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{u}" for u in users], page),
            "request_id": np.repeat([f"r{r:04d}" for r in range(n_requests)], page),
            "item_id": [f"i{x}" for x in rng.integers(0, 50, n_requests * page)],
            "clicked": (rng.random(n_requests * page) < 0.3).astype(int),
            "ts": np.repeat(times, page),
        }
    )
    requests = build_requests(events, max_history=5)
    ordered = events.assign(row=np.arange(len(events))).sort_values(["ts", "request_id", "row"])
    for row in requests.itertuples():
        earlier = ordered[(ordered.user_id == row.user_id) & (ordered.ts < row.ts) & (ordered.clicked == 1)]
        assert row.history == earlier["item_id"].tolist()[-5:]


def test_a_hundred_thousand_events_take_well_under_a_few_seconds():
    rng = np.random.default_rng(0)
    n_requests, page = 10_000, 10
    events = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{u}" for u in rng.integers(0, 1000, n_requests)], page),
            "request_id": np.repeat([f"r{r:05d}" for r in range(n_requests)], page),
            "item_id": [f"i{x}" for x in rng.integers(0, 3000, n_requests * page)],
            "clicked": (rng.random(n_requests * page) < 0.15).astype(np.int64),
            "ts": np.repeat(rng.integers(0, 10**9, n_requests), page),
        }
    )
    started = time.perf_counter()
    requests = build_requests(events)
    assert len(requests) == n_requests
    assert time.perf_counter() - started < 5.0  # ~0.2 s on one core; generous for a busy CI machine

"""Generate a synthetic visual-shop world: items with images, users with taste, logged page views.

The true click probability of every impression goes to oracle.parquet and the factors to world.json
(for analysis only), so a method's gain can be compared with the best achievable one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from training.world.behaviour import (
    TASTE_FACTORS,
    Taste,
    Users,
    calibrate_intercept,
    click_logits,
    compose_pages,
    draw_taste,
    draw_users,
    release_index,
    schedule_requests,
)
from training.world.config import WorldConfig
from training.world.factors import NAMED, NUISANCE, UNNAMED, Vocabulary, draw_items, draw_vocabulary
from training.world.rendering import render_item
from training.world.writer import write_world

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class WorldSummary:
    out: Path
    items: int
    users: int
    requests: int
    events: int
    ctr: float
    cold_items: int
    seconds: float


def generate_world(config: WorldConfig, out: str | Path, *, overwrite: bool = False) -> WorldSummary:
    """Draw and write a world; identical files (parquet contents and image bytes) for the same config."""
    started = time.perf_counter()
    vocab_rng, item_rng, user_rng, time_rng, page_rng, click_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)
    )
    vocab = draw_vocabulary(vocab_rng)
    taste = draw_taste(vocab_rng)
    items = draw_items(vocab, config.items, item_rng)
    items["item_id"] = [f"i{n:06d}" for n in item_rng.permutation(config.items)]
    users = draw_users(config, vocab, taste, user_rng)
    user_ids = np.array([f"u{n:05d}" for n in user_rng.permutation(config.users)])

    request_user, request_ts = schedule_requests(users, config, time_rng)
    n_requests = len(request_user)
    n_train = int(round(config.train_fraction * n_requests))
    release = release_index(config.items, config.cold_share, n_requests, n_train, time_rng)
    if int((release == 0).sum()) < config.page_size:
        raise ValueError("too few items outside the cold share to fill one page; lower --cold-share")
    codes = pd.DataFrame(
        {f: pd.Categorical(items[f], categories=vocab.values(f)).codes for f in TASTE_FACTORS}
    )
    impression_request, impression_item = compose_pages(
        request_user, codes["category"].to_numpy(), release, users, taste, config.page_size, page_rng
    )
    impression_user = request_user[impression_request]
    logit = click_logits(impression_user, impression_item, codes, items["quality"].to_numpy(), users, taste)
    intercept = calibrate_intercept(logit, taste.target_ctr)
    p_click = 1.0 / (1.0 + np.exp(-(logit + intercept)))
    clicked = (click_rng.random(len(p_click)) < p_click).astype(np.int64)

    request_ids = np.array([f"r{n:07d}" for n in range(n_requests)])
    item_ids = items["item_id"].to_numpy()
    events = pd.DataFrame(
        {
            "user_id": user_ids[impression_user],
            "request_id": request_ids[impression_request],
            "item_id": item_ids[impression_item],
            "clicked": clicked,
            "ts": request_ts[impression_request].astype(np.int64),
            "position": np.tile(np.arange(config.page_size, dtype=np.int64), n_requests),
        }
    )
    oracle = events[["request_id", "item_id"]].assign(p_click=p_click)
    items["image"] = [f"images/{item_id}.jpg" for item_id in item_ids]
    items["cold"] = release >= n_train
    world = _world_json(config, vocab, taste, intercept, items, release, request_ts, user_ids, users)
    write_world(
        Path(out),
        items[["item_id", "image", "title", "category"]],
        events,
        oracle,
        _render_all(items, config),
        world,
        overwrite=overwrite,
    )
    return WorldSummary(
        out=Path(out),
        items=config.items,
        users=config.users,
        requests=n_requests,
        events=len(events),
        ctr=float(clicked.mean()),
        cold_items=int(items["cold"].sum()),
        seconds=time.perf_counter() - started,
    )


def _render_all(items: pd.DataFrame, config: WorldConfig) -> Iterator[tuple[str, bytes]]:
    rows = items.to_dict("records")
    for index, row in enumerate(tqdm(rows, desc="rendering items", unit="img", disable=None)):
        yield row["image"], render_item(row, config.image_size, noise_seed=config.seed * 1_000_003 + index)


def _world_json(
    config: WorldConfig,
    vocab: Vocabulary,
    taste: Taste,
    intercept: float,
    items: pd.DataFrame,
    release: np.ndarray,
    request_ts: np.ndarray,
    user_ids: np.ndarray,
    users: Users,
) -> dict:
    """Everything needed to analyse the world (probes, plots); no training or evaluation code reads it."""
    release_ts = request_ts[np.minimum(release, len(request_ts) - 1)]
    item_records = [
        {
            "item_id": row["item_id"],
            **{f: row[f] for f in NAMED + UNNAMED},
            "quality": round(float(row["quality"]), 4),
            "cold": bool(row["cold"]),
            "release_ts": int(ts) if row["cold"] else None,
            "nuisance": {n: _plain(row[n]) for n in NUISANCE},
        }
        for row, ts in zip(items.to_dict("records"), release_ts, strict=True)
    ]
    user_records = [
        {
            "user_id": str(user_ids[u]),
            "bias": round(float(users.bias[u]), 4),
            "affinity": {f: np.round(users.affinity[f][u], 4).tolist() for f in TASTE_FACTORS},
        }
        for u in range(users.count)
    ]
    return {
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
        "factors": {"named": list(NAMED), "unnamed": list(UNNAMED), "nuisance": list(NUISANCE)},
        "vocabulary": {f: list(vocab.values(f)) for f in (*TASTE_FACTORS, "brands")},
        "taste_strength": taste.to_dict(),
        "intercept": round(intercept, 6),
        "shared_affinity": {f: np.round(users.shared[f], 4).tolist() for f in TASTE_FACTORS},
        "click_model": "p = sigmoid(intercept + user.bias + quality_strength * item.quality + "
        "sum over factors of strength[f] * user.affinity[f][index of the item's value in vocabulary[f]])",
        "items": item_records,
        "users": user_records,
    }


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return round(value, 4) if isinstance(value, float) else value

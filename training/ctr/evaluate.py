"""One evaluation: load data and (optionally) embeddings, train the CTR model over several seeds, score
the test period, compare with the no-image baseline and the oracle, and write metrics.json."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from courier_core.dataset import Dataset, load_dataset
from courier_core.embeddings_file import read_embeddings, validate_embeddings
from courier_core.timeline import build_requests
from training.ctr.features import TEST, CTRFeatures, FeatureConfig, aligned_embeddings, build_features
from training.ctr.metrics import auc, gap_closed, gauc, log_loss
from training.ctr.trainer import CTRTrainConfig, fit_and_score

METRIC_NAMES = ("auc", "gauc", "cold_auc", "logloss")
GAP_METRICS = ("auc", "gauc", "cold_auc")


class BaselineError(ValueError):
    """A baseline metrics.json that cannot serve as the `none` figure of this evaluation."""


@dataclass(frozen=True)
class EvalConfig:
    seeds: int = 3
    train_fraction: float = 0.8
    threads: int = 1  # torch CPU threads; the model's ops are small, so more threads mostly spin
    features: FeatureConfig = field(default_factory=FeatureConfig)
    train: CTRTrainConfig = field(default_factory=CTRTrainConfig)


def score_metrics(features: CTRFeatures, scores: np.ndarray) -> dict[str, float]:
    """AUC, GAUC, cold-item AUC and log-loss of test-period scores."""
    idx = features.impressions(TEST)
    labels, cold = features.imp_label[idx], features.imp_cold[idx]
    return {
        "auc": auc(labels, scores),
        "gauc": gauc(features.imp_user_code[idx], labels, scores),
        "cold_auc": auc(labels[cold], scores[cold]),
        "logloss": log_loss(labels, scores),
    }


def _summary(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"per_seed": per_seed, "mean": {}, "std": {}}
    for name in METRIC_NAMES:
        values = np.array([s[name] for s in per_seed], dtype=np.float64)
        out["mean"][name] = float(np.mean(values))
        out["std"][name] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return out


def run_seeds(
    features: CTRFeatures, image_table: np.ndarray | None, config: EvalConfig, label: str
) -> dict[str, Any]:
    """Train and score one CTR model per seed (seeds 0..n-1, the same for every method)."""
    per_seed = []
    previous_threads = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    try:
        for seed in tqdm(range(config.seeds), desc=f"eval {label}", unit="seed", disable=None):
            result = fit_and_score(features, image_table, config.train, seed)
            per_seed.append(
                {"seed": seed, **score_metrics(features, result.test_scores), "best_epoch": result.best_epoch}
                | {"epochs_run": result.epochs_run, "val_auc": result.val_auc}
            )
    finally:
        torch.set_num_threads(previous_threads)
    return _summary(per_seed)


def oracle_metrics(dataset: Dataset, features: CTRFeatures) -> dict[str, float] | None:
    """The true click probability as the score: the ceiling any ranker can reach on this test period."""
    if dataset.oracle is None:
        return None
    idx = features.impressions(TEST)
    keys = pd.MultiIndex.from_arrays(
        [
            features.request_ids[features.imp_request[idx]],
            np.asarray(features.catalogue_ids)[features.imp_row[idx] - 1],
        ]
    )
    oracle = dataset.oracle.drop_duplicates(["request_id", "item_id"])
    table = pd.Series(
        oracle["p_click"].to_numpy(np.float64),
        index=pd.MultiIndex.from_arrays([oracle["request_id"].astype(str), oracle["item_id"].astype(str)]),
    )
    p = table.reindex(keys).to_numpy()
    if np.isnan(p).any():
        raise ValueError(f"oracle.parquet lacks p_click for {int(np.isnan(p).sum())} test impression(s)")
    return score_metrics(features, p)


def _fingerprint(dataset: Dataset, features: CTRFeatures, config: EvalConfig) -> dict[str, Any]:
    test = features.impressions(TEST)
    return {
        "data": str(Path(dataset.root).resolve()),
        "events": int(len(dataset.events)),
        "test_impressions": int(len(test)),
        "cold_impressions": int(features.imp_cold[test].sum()),
        "config": json.loads(json.dumps(asdict(config))),
    }


def load_baseline(path: str | Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The `none` figures of a sibling no-image run; it must be complete and on the same data and settings."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"baseline {path} is not a readable metrics.json: {exc}") from None
    if not doc.get("complete") or doc.get("embeddings") is not None:
        raise BaselineError(f"baseline {path} is not a finished no-image (--no-images) evaluation")
    if doc.get("fingerprint") != fingerprint:
        raise BaselineError(
            f"baseline {path} was evaluated on other data or settings; rerun it or drop --baseline"
        )
    return doc["result"] | {"source": str(path)}


def evaluate(
    data_dir: str | Path,
    embeddings_path: str | Path | None,
    config: EvalConfig,
    baseline_path: str | Path | None = None,
) -> dict[str, Any]:
    """The full metrics document. With embeddings, the `none` baseline is trained in the same call (same
    data, split and seeds) unless `baseline_path` names a sibling run's metrics.json."""
    started = time.perf_counter()
    dataset = load_dataset(data_dir)
    image_table, method, dim = None, "none", None
    if embeddings_path is not None:
        emb = read_embeddings(embeddings_path)
        validate_embeddings(emb, dataset.items["item_id"].astype(str), source=str(embeddings_path))
        method, dim = str(emb.metadata.get("method", Path(embeddings_path).stem)), emb.dim
    requests = build_requests(
        dataset.events, max_history=config.features.max_history, train_fraction=config.train_fraction
    )
    features = build_features(dataset.items, requests, config.features)
    if embeddings_path is not None:
        image_table = aligned_embeddings(features.catalogue_ids, emb.item_ids, emb.matrix)
    fingerprint = _fingerprint(dataset, features, config)

    result = run_seeds(features, image_table, config, method)
    if image_table is None:
        none = result | {"source": "this run"}
    elif baseline_path is not None:
        none = load_baseline(baseline_path, fingerprint)
    else:
        none = run_seeds(features, None, config, "none") | {"source": "computed in this run"}
    oracle = oracle_metrics(dataset, features)
    gaps = None
    if oracle is not None:
        gaps = {m: gap_closed(result["mean"][m], none["mean"][m], oracle[m]) for m in GAP_METRICS}
    return {
        "complete": True,
        "method": method,
        "embeddings": str(Path(embeddings_path).resolve()) if embeddings_path is not None else None,
        "dim": dim,
        "fingerprint": fingerprint,
        "result": result,
        "none": none,
        "oracle": oracle,
        "gap_closed": gaps,
        "wall_s": time.perf_counter() - started,
    }


def write_metrics(out_dir: str | Path, doc: dict[str, Any]) -> Path:
    """metrics.json, written atomically so a half-written file never counts as a finished step."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    tmp = out / f".metrics.json.tmp.{os.getpid()}"
    tmp.write_text(json.dumps(_finite(doc), indent=2))
    os.replace(tmp, path)
    return path


def _finite(value: Any) -> Any:
    """NaN/inf become null: strict JSON for every reader."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value

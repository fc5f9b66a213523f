"""The CTR evaluation: cold items, no test-period leakage, and image features that carry real signal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from courier_core.dataset import load_dataset
from courier_core.embeddings_file import write_embeddings
from courier_core.timeline import build_requests
from tests.eval.synthetic import colour_embeddings, make_leaky_world, make_taste_world
from training.ctr.evaluate import EvalConfig, evaluate
from training.ctr.features import ITEM_UNKNOWN, TEST, VAL, FeatureConfig, build_features
from training.ctr.model import CTRModelConfig
from training.ctr.trainer import CTRTrainConfig

QUICK = EvalConfig(seeds=1, train=CTRTrainConfig(max_epochs=8))


def _random_embeddings(root: Path, data: Path, dim: int = 16) -> Path:
    """A distinct random vector per item: identifies items, says nothing about clicks."""
    items = load_dataset(data).items["item_id"].tolist()
    path = root / "random.parquet"
    write_embeddings(
        path, items, np.random.default_rng(3).normal(size=(len(items), dim)), {"method": "random"}
    )
    return path


def test_cold_and_unseen_items_fall_into_the_unknown_bucket(tmp_path: Path) -> None:
    data = load_dataset(make_leaky_world(tmp_path / "w", peek=False))
    features = build_features(data.items, build_requests(data.events), FeatureConfig())
    test = features.impressions(TEST)
    assert len(test) and features.imp_cold[test].all()  # every test item is new in this world
    assert (features.item_vocab[features.imp_row[test]] == ITEM_UNKNOWN).all()
    # Items seen only in the validation slice are not trained on either, so they are unknown too.
    val_rows = set(features.imp_row[features.impressions(VAL)]) - set(
        features.imp_row[features.imp_split == 0]
    )
    assert all(features.item_vocab[r] == ITEM_UNKNOWN for r in val_rows)
    # Test-period clicks that reach a later request's history are unknown ids as well.
    test_requests = np.unique(features.imp_request[test])
    hist = features.hist_rows[test_requests]
    cold_in_history = hist[(hist > 0) & np.isin(hist, features.imp_row[test])]
    assert len(cold_in_history) and (features.item_vocab[cold_in_history] == ITEM_UNKNOWN).all()
    known = features.item_vocab[features.item_vocab > ITEM_UNKNOWN]
    assert len(np.unique(known)) == len(known)


def test_the_ctr_model_does_not_peek_at_the_test_period(tmp_path: Path) -> None:
    honest = make_leaky_world(tmp_path / "honest", peek=False)
    embeddings = _random_embeddings(tmp_path, honest)
    docs = [evaluate(honest, embeddings, QUICK)]
    # The skipped history (items shown and not clicked) must come from strictly earlier requests as well.
    docs.append(evaluate(honest, embeddings, replace(QUICK, features=FeatureConfig(skip_history=10))))
    # Peeking is worth a lot in this world: with the test requests logged in the train period too, the
    # same model nearly separates good from bad items.
    peeking = make_leaky_world(tmp_path / "peek", peek=True)
    peek_doc = evaluate(peeking, None, replace(QUICK, train_fraction=1600 / 1920))
    assert peek_doc["fingerprint"]["test_impressions"] == docs[0]["fingerprint"]["test_impressions"]
    assert peek_doc["result"]["mean"]["auc"] > 0.85
    for row in (doc[part] for doc in docs for part in ("result", "none")):
        assert row["mean"]["auc"] < 0.6
        assert row["mean"]["cold_auc"] < 0.6


@pytest.mark.parametrize("user_taste", [False, True])
def test_embeddings_that_carry_taste_lift_cold_items(tmp_path: Path, user_taste: bool) -> None:
    world = make_taste_world(tmp_path / "taste", n_requests=2000)
    path = tmp_path / "colour.parquet"
    write_embeddings(
        path, world.items["item_id"].tolist(), colour_embeddings(world.items), {"method": "colour"}
    )
    model = CTRModelConfig(user_taste=user_taste)
    doc = evaluate(world.root, path, replace(QUICK, train=replace(QUICK.train, model=model)))
    assert doc["method"] == "colour" and doc["dim"] == 8
    assert doc["none"]["source"] == "computed in this run"
    assert doc["result"]["mean"]["cold_auc"] > doc["none"]["mean"]["cold_auc"] + 0.1
    assert doc["result"]["mean"]["auc"] > doc["none"]["mean"]["auc"] + 0.03
    assert doc["oracle"]["auc"] > doc["none"]["mean"]["auc"]
    assert doc["gap_closed"]["auc"] == pytest.approx(
        (doc["result"]["mean"]["auc"] - doc["none"]["mean"]["auc"])
        / (doc["oracle"]["auc"] - doc["none"]["mean"]["auc"])
    )
    assert doc["gap_closed"]["auc"] > 0.5


def test_skipped_history_holds_only_earlier_unclicked_items_of_the_same_user() -> None:
    events = pd.DataFrame(
        [
            ("u1", "r1", "a", 0, 100),
            ("u1", "r1", "b", 1, 100),
            ("u2", "r2", "c", 0, 150),  # another user's skip
            ("u1", "r3", "d", 0, 200),
            ("u1", "r3", "e", 0, 200),
            ("u1", "r4", "f", 0, 200),  # same ts as r3: not strictly earlier
            ("u1", "r5", "a", 0, 300),
        ],
        columns=["user_id", "request_id", "item_id", "clicked", "ts"],
    )
    items = pd.DataFrame({"item_id": list("abcdef"), "title": ["t"] * 6, "category": ["k"] * 6})
    requests = build_requests(events)
    features = build_features(items, requests, FeatureConfig(skip_history=2))
    ids = np.array(["", *features.catalogue_ids])
    skips = {
        r: [str(x) for x in ids[row] if x]
        for r, row in zip(features.request_ids, features.skip_rows, strict=True)
    }
    assert skips == {"r1": [], "r2": [], "r3": ["a"], "r4": ["a"], "r5": ["e", "f"]}
    assert build_features(items, requests, FeatureConfig()).skip_rows.shape == (5, 0)

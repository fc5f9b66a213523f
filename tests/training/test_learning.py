"""Learning happens: a short COURIER run on the tiny world lowers the validation loss and finds the
clicked item from its reconstruction far above chance (in-batch top-1), with the two-direction loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.fixtures.runs import tiny_train_config
from training.train.loop import train


def test_short_courier_run_learns(tiny_world: Path, tmp_path: Path) -> None:
    run = tmp_path / "learn"
    cfg = tiny_train_config(tiny_world, run, max_steps=None, epochs=4, page_weight=0.0, lr=3e-3)
    result = train(cfg, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if r["kind"] == "val"]
    steps = [r for r in rows if r["kind"] == "step"]
    assert vals[0]["step"] == 0 and len(vals) == 5  # before training, then after each epoch
    assert vals[-1]["val_loss"] < vals[0]["val_loss"] - 0.3, [v["val_loss"] for v in vals]
    top1 = np.mean([r["top1"] for r in steps[-10:]])
    chance = np.mean([r["chance"] for r in steps[-10:]])
    assert top1 >= 5 * chance, (top1, chance)
    assert max(v["val_top1"] for v in vals[1:]) >= 4 * vals[0]["val_chance"]
    assert result.summary["val_page_auc"] > 0.5

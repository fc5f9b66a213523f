"""Learning happens: a short COURIER run (default per-page loss) on the tiny world lowers the validation
loss, lifts the held-out page AUC of the intention score (the taste signal of docs/design.md, "The COURIER method") and finds the
clicked item among the whole batch from its reconstruction far above chance (in-batch top-1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.fixtures.runs import tiny_train_config
from training.pretrain.loop import train


def test_short_courier_run_learns(tiny_world: Path, tmp_path: Path) -> None:
    run = tmp_path / "learn"
    cfg = tiny_train_config(tiny_world, run, max_steps=None, epochs=3, val_fraction=0.25)
    result = train(cfg, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if r["kind"] == "val"]
    steps = [r for r in rows if r["kind"] == "step"]
    assert vals[0]["step"] == 0 and len(vals) == 4  # before training, then after each epoch
    assert result.summary["best_val_loss"] < vals[0]["val_loss"] - 0.05, [v["val_loss"] for v in vals]
    assert vals[-1]["val_page_auc"] > vals[0]["val_page_auc"] + 0.03, [v["val_page_auc"] for v in vals]
    top1 = np.mean([r["top1"] for r in steps[-10:]])
    chance = np.mean([r["chance"] for r in steps[-10:]])
    assert top1 >= 4 * chance, (top1, chance)
    assert np.mean([r["loss"] for r in steps[-5:]]) < np.mean([r["loss"] for r in steps[:5]]) - 0.3
    assert result.summary["val_page_auc"] == vals[-1]["val_page_auc"]

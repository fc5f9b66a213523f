"""Every method trains a few steps on the tiny world, writes the documented run directory, and `embed`
writes the documented parquet: every catalogue item (cold ones included), unit norm, fixed dim."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from courier_core.dataset import load_dataset
from courier_core.embeddings_file import read_embeddings
from tests.fixtures.runs import tiny_train_config
from training.cli import main as cli_main
from training.pretrain.loop import train


def _check_run(run: Path, method: str) -> None:
    for name in (
        "config.json",
        "metrics.jsonl",
        "summary.json",
        "training.png",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["method"] == method
    assert summary["data"]["skipped_no_click"] >= 0 and summary["data"]["train_page_views"] > 0
    assert json.loads((run / "config.json").read_text())["method"] == method


def _check_embeddings(path: Path, world: Path, method: str, dim: int) -> None:
    emb = read_embeddings(path)
    catalogue = load_dataset(world, image_check="none").items["item_id"].tolist()
    assert sorted(emb.item_ids) == sorted(catalogue)
    assert emb.matrix.shape == (len(catalogue), dim) and emb.matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.matrix, axis=1), 1.0, rtol=1e-5)
    assert emb.metadata["method"] == method and emb.metadata["config"]["dim"] == dim


@pytest.mark.parametrize("method", ["clip", "simclr", "simsiam", "random"])
def test_baseline_trains_and_embeds(method: str, tiny_world: Path, tmp_path: Path) -> None:
    run = tmp_path / method
    result = train(tiny_train_config(tiny_world, run, method, max_steps=2), progress=False)
    assert result.status == "finished"
    _check_run(run, method)
    out = tmp_path / f"{method}.parquet"
    assert cli_main(["embed", "--run", str(run), "--data", str(tiny_world), "--out", str(out)]) == 0
    _check_embeddings(out, tiny_world, method, dim=16)
    if method != "random":
        assert result.summary["final_train_loss"] is not None and np.isfinite(
            result.summary["final_train_loss"]
        )


def test_courier_run_and_embed_cli(
    tiny_run: Path, tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _check_run(tiny_run, "courier")
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r["kind"] == "step"]
    assert {"loss", "top1", "chance", "page_auc", "samples_per_s", "lr", "tau"} <= set(steps[-1])
    assert any(r["kind"] == "val" and "val_page_auc" in r for r in rows)
    out = tmp_path / "courier.parquet"
    assert (
        cli_main(
            [
                "embed",
                "--run",
                str(tiny_run),
                "--data",
                str(tiny_world),
                "--out",
                str(out),
                "--checkpoint",
                "best",
            ]
        )
        == 0
    )
    assert "embeddings of dim 16" in capsys.readouterr().out
    _check_embeddings(out, tiny_world, "courier", dim=16)


def test_train_cli_refuses_to_overwrite_and_explains(
    tiny_run: Path, tiny_world: Path, capsys: pytest.CaptureFixture
) -> None:
    code = cli_main(["train", "--data", str(tiny_world), "--method", "courier", "--out", str(tiny_run)])
    assert code == 2 and "--resume" in capsys.readouterr().err
    assert (
        cli_main(
            ["train", "--data", str(tiny_world), "--method", "courier", "--out", "x", "--page-weight", "2"]
        )
        == 2
    )
    assert "page_weight must be in [0, 1]" in capsys.readouterr().err

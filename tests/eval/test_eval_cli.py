"""`python -m training eval` as a user runs it: metrics.json, the printed table, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from courier_core.embeddings_file import write_embeddings
from tests.eval.synthetic import colour_embeddings, make_taste_world
from training.cli import main

FAST = ["--seeds", "2", "--max-epochs", "3"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return make_taste_world(tmp_path_factory.mktemp("eval_cli") / "data", n_requests=1200)


def _write_bad(path: Path, item_ids: list[str], vectors: list[list[float]]) -> Path:
    """Written with pyarrow directly: the project's writer refuses to produce such files."""
    table = pa.table({"item_id": item_ids, "embedding": pa.array(vectors, type=pa.list_(pa.float32()))})
    pq.write_table(table, path)
    return path


def test_eval_writes_metrics_and_reuses_a_sibling_baseline(world, tmp_path: Path, capsys) -> None:
    none_dir = tmp_path / "none"
    assert main(["eval", "--data", str(world.root), "--no-images", "--out", str(none_dir), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "none" in printed and "oracle" in printed and "AUC" in printed
    none_doc = json.loads((none_dir / "metrics.json").read_text())
    assert none_doc["complete"] and len(none_doc["result"]["per_seed"]) == 2
    assert none_doc["gap_closed"]["auc"] == pytest.approx(0.0)

    emb = tmp_path / "colour.parquet"
    write_embeddings(
        emb, world.items["item_id"].tolist(), colour_embeddings(world.items), {"method": "colour"}
    )
    baseline = str(none_dir / "metrics.json")
    args = ["eval", "--data", str(world.root), "--embeddings", str(emb), "--out", str(tmp_path / "colour")]
    assert main([*args, "--baseline", baseline, *FAST]) == 0
    doc = json.loads((tmp_path / "colour" / "metrics.json").read_text())
    assert doc["none"]["source"] == baseline
    assert doc["none"]["mean"] == none_doc["result"]["mean"]
    assert "colour" in capsys.readouterr().out

    # A baseline trained with other settings is refused rather than silently compared against.
    assert main([*args, "--baseline", baseline, "--seeds", "1", "--max-epochs", "3"]) == 2
    assert "other data or settings" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "item(s) of the catalogue have no embedding"),
        ("mixed", "mixed dims"),
        ("nan", "NaN or inf"),
    ],
)
def test_a_wrong_embeddings_file_fails_with_a_clear_message(
    world, tmp_path: Path, capsys, case, message
) -> None:
    ids = world.items["item_id"].tolist()
    vectors = np.ones((len(ids), 4), dtype=np.float32).tolist()
    if case == "missing":
        ids, vectors = ids[:-3], vectors[:-3]
    elif case == "mixed":
        vectors[5] = [1.0, 2.0]
    else:
        vectors[7][1] = float("nan")
    path = _write_bad(tmp_path / f"{case}.parquet", ids, vectors)
    code = main(["eval", "--data", str(world.root), "--embeddings", str(path), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert not (tmp_path / "o" / "metrics.json").exists()

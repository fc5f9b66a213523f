"""`python -m training compare` end to end on the tiny world, with real train and embed subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

QUICK_TRAIN = "--image-size 32 --backbone resnet-tiny --batch-size 16 --item-batch-size 32 --max-steps 3"


def _compare(data: Path, out: Path, *extra: str) -> tuple[str, float]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "training", "compare", "--data", str(data), "--out", str(out)]
    command += ["--epochs", "1", "--seeds", "2", "--max-epochs", "4", "--train-args", QUICK_TRAIN, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, time.perf_counter() - started


@pytest.fixture(scope="module")
def compared(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("compare") / "cmp"
    stdout, _ = _compare(tiny_world, out)
    return out, stdout


def test_compare_writes_a_report_a_person_can_read(compared: tuple[Path, str]) -> None:
    out, stdout = compared
    report = json.loads((out / "report.json").read_text())
    names = [r["name"] for r in report["rows"]]
    assert names == [
        "none",
        "random",
        "simclr",
        "simsiam",
        "clip",
        "courier",
        "courier-lambda0",
        "courier-from-simclr",
        "factors",
    ]
    for row in report["rows"]:
        assert 0.0 <= row["mean"]["auc"] <= 1.0 and row["std"]["auc"] >= 0.0
        if row["name"] == "factors":  # the true-factor ceiling: evaluated like the methods, never trained
            assert row["reference"] and row["pretrain_wall_s"] is None and row["probes"] is None
            assert set(row["gap_closed"]) >= {"auc", "cold_auc"} and row["dim"]
        elif row["name"] != "none":
            assert row["dim"] and row["pretrain_wall_s"] is not None
            assert {p["group"] for p in row["probes"]} == {"named", "unnamed", "nuisance"}
    assert report["oracle"]["auc"] > 0.5
    assert set(report["targets"]) >= {
        "gap_closed",
        "beats_random",
        "beats_simclr",
        "beats_simsiam",
        "beats_clip",
    }
    assert "--init-from" in stdout and "--clip-weight 0" in stdout

    markdown = (out / "report.md").read_text()
    for text in (
        "| courier |",
        "| oracle |",
        "| factors (ceiling) |",
        "what a perfect image encoder could give this CTR model",
        "gap closed",
        "auc.png",
        "What did each encoder learn?",
        "chance",
    ):
        assert text in markdown
    assert "runs/courier/training.png" in markdown and (out / "runs" / "courier" / "training.png").is_file()
    with Image.open(out / "auc.png") as image:
        assert image.width > 600 and image.height > 300


def test_a_second_call_reuses_everything_and_a_killed_run_resumes(
    tiny_world: Path, compared: tuple[Path, str]
) -> None:
    out, _ = compared
    before = (out / "eval" / "courier" / "metrics.json").read_text()
    stdout, seconds = _compare(tiny_world, out)
    assert " train: " not in stdout and " embed: " not in stdout and ": eval (" not in stdout
    assert stdout.count("reused") >= 7 * 3 + 1
    assert seconds < 60  # seconds on a quiet machine; generous for a shared CI runner
    assert (out / "eval" / "courier" / "metrics.json").read_text() == before

    # A training killed before it finished leaves a checkpoint but no summary.json: it is resumed.
    (out / "runs" / "courier" / "summary.json").unlink()
    stdout, _ = _compare(tiny_world, out)
    train_lines = [line for line in stdout.splitlines() if " train: " in line]
    assert (
        len(train_lines) == 1 and "courier: train" in train_lines[0] and train_lines[0].endswith("--resume")
    )
    assert (out / "runs" / "courier" / "summary.json").is_file() and (out / "report.md").is_file()


def test_without_world_json_the_probe_section_is_skipped(tiny_world: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_world, data, ignore=shutil.ignore_patterns("world.json"))
    _compare(data, tmp_path / "cmp", "--methods", "random", "--ablations", "")
    markdown = (tmp_path / "cmp" / "report.md").read_text()
    assert "Skipped: this dataset has no world.json" in markdown
    assert "The true-factor ceiling row is skipped" in markdown
    assert [r["name"] for r in json.loads((tmp_path / "cmp" / "report.json").read_text())["rows"]] == [
        "none",
        "random",
    ]
    assert "## Targets" not in markdown  # no courier row, so no target lines

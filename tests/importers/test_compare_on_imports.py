"""Import → `check` → `compare` end to end on each importer's output (real train/embed/eval subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.importers.helpers import run_import
from tests.importers.layouts import log_events, log_items, write_amazon, write_csv, write_hm
from tests.importers.server import ImageServer

pytestmark = pytest.mark.slow

# The smallest settings compare takes today: one encoder method, no ablations, a few steps; batches of 8
# page views because train refuses a batch larger than its training samples (13 in the logs fixture).
QUICK_TRAIN = "--image-size 32 --backbone resnet-tiny --batch-size 8 --item-batch-size 32 --max-steps 3"


def _hm(root: Path, out: Path, capsys: pytest.CaptureFixture[str], server: ImageServer) -> int:
    return run_import(capsys, "hm", "--src", write_hm(root), "--out", out, "--negatives", "4")[0]


def _amazon(root: Path, out: Path, capsys: pytest.CaptureFixture[str], server: ImageServer) -> int:
    server.files.update(write_amazon(root, "Amazon_Fashion", server.base))
    argv = (
        "--images",
        "download",
        "--allow-host",
        "127.0.0.1",
        "--allow-http",
        "127.0.0.1",
        "--negatives",
        "4",
    )
    return run_import(
        capsys, "amazon2023", "--src", root, "--category", "Amazon_Fashion", "--out", out, *argv
    )[0]


def _logs(root: Path, out: Path, capsys: pytest.CaptureFixture[str], server: ImageServer) -> int:
    root.mkdir()
    items = log_items(root)
    write_csv(root / "items.csv", list(items[0]), [list(i.values()) for i in items])
    rows = log_events()
    write_csv(root / "events.csv", list(rows[0]), [list(r.values()) for r in rows])
    mapping = "user_id=visitor,request_id=page,item_id=sku,clicked=click,ts=time"
    argv = ("--items-map", "item_id=sku,image=picture,title=name,category=dept", "--map", mapping)
    return run_import(
        capsys, "logs", "--events", root / "events.csv", "--items", root / "items.csv", "--out", out, *argv
    )[0]


@pytest.mark.parametrize("importer", [_hm, _amazon, _logs], ids=["hm", "amazon2023", "logs"])
def test_import_check_and_compare(
    importer, tmp_path: Path, capsys: pytest.CaptureFixture[str], image_server: ImageServer
) -> None:
    data = tmp_path / "data"
    assert importer(tmp_path / "src", data, capsys, image_server) == 0
    check = subprocess.run(
        [sys.executable, "-m", "training", "check", str(data), "--full"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0 and f"dataset {data}: OK" in check.stdout, check.stdout + check.stderr
    flags = ["--methods", "courier", "--ablations=", "--seeds", "2", "--max-epochs", "4"]
    command = [
        sys.executable,
        "-m",
        "training",
        "compare",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "cmp"),
    ]
    done = subprocess.run(
        [*command, *flags, "--train-args", QUICK_TRAIN], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "cmp" / "report.json").read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert {"none", "courier"} <= set(rows) and all(0.0 <= r["mean"]["auc"] <= 1.0 for r in rows.values())

"""Interrupt a tiny run with SIGINT, resume, kill it with SIGKILL, resume again: the final weights equal
those of one uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.fixtures.runs import TINY_TRAIN

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {**TINY_TRAIN, "max_steps": None, "epochs": 2, "batch_size": 32, "checkpoint_every": 2}


def _command(world: Path, out: Path, resume: bool = False) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "training",
        "train",
        "--data",
        str(world),
        "--method",
        "courier",
        "--out",
        str(out),
    ]
    config = out.parent / f"{out.name}.json"
    config.write_text(json.dumps(SETTINGS))
    return [*args, "--config", str(config), *(["--resume"] if resume else [])]


def _last_step(out: Path) -> int:
    path = out / "metrics.jsonl"
    if not path.exists():
        return 0
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return max((r["step"] for r in rows), default=0)


def _run_until(world: Path, out: Path, resume: bool, stop_at: int, sig: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        _command(world, out, resume), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 240
    while _last_step(out) < stop_at:
        assert proc.poll() is None, (
            f"the run ended before step {stop_at}: {proc.stdout.read().decode()[-2000:]}"
        )
        assert time.time() < deadline, "the run made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
    return proc


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)["model"]


@pytest.mark.slow
def test_sigint_then_sigkill_then_resume_matches_uninterrupted_run(tiny_world: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    done = subprocess.run(
        _command(tiny_world, reference), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    total = json.loads((reference / "summary.json").read_text())["steps"]
    assert total >= 8

    resumed = tmp_path / "resumed"
    first = _run_until(tiny_world, resumed, False, stop_at=3, sig=signal.SIGINT)
    assert first.returncode == 130  # SIGINT: checkpoint saved, clean exit
    assert (resumed / "checkpoints" / "last.pt").exists() and not (resumed / "summary.json").exists()
    second = _run_until(tiny_world, resumed, True, stop_at=total - 3, sig=signal.SIGKILL)
    assert second.returncode == -signal.SIGKILL
    final = subprocess.run(
        _command(tiny_world, resumed, resume=True), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr[-2000:]

    ours, theirs = _weights(resumed), _weights(reference)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), f"{key} differs after resume"
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    ref_steps = [json.loads(line)["step"] for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert steps == ref_steps  # the log reads as one uninterrupted run

"""What `python -m training train` shows a user outside a terminal, and what a failed start leaves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fixtures.runs import TINY_TRAIN
from training.cli import main as cli_main


def test_a_non_terminal_stderr_gets_one_line_per_step(
    tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**TINY_TRAIN, "max_steps": 3}))
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(tiny_world),
        "--method",
        "courier",
        "--out",
        str(out),
        "--config",
        str(config),
    ]

    assert cli_main(args) == 0  # capsys' stderr is not a terminal, like a log file or a pipe

    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [re.match(r"step (\d+)/3 epoch 0: loss \d+\.\d+, ", line).group(1) for line in lines] == [
        "1",
        "2",
        "3",
    ]
    assert all(re.search(r"\d+ s elapsed, about \d+ (s|min) left$", line) for line in lines)


def test_bad_data_leaves_no_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "runs" / "bad"
    code = cli_main(
        ["train", "--data", str(tmp_path / "no-such-data"), "--method", "courier", "--out", str(out)]
    )

    assert code == 2
    assert "no-such-data" in capsys.readouterr().err
    assert not out.exists()

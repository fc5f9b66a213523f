"""`world` and `check` count cold items by one definition, and `world` says what else it released."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from training.cli import main as cli_main


def test_world_and_check_report_the_same_cold_items(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "tiny"
    assert cli_main(["world", "--preset", "tiny", "--seed", "0", "--out", str(out)]) == 0
    world_says = capsys.readouterr().out
    assert cli_main(["check", str(out)]) == 0
    check_says = capsys.readouterr().out

    cold = re.search(r"(\d+) cold items \(shown in the test period only\)", world_says)
    assert cold, world_says
    assert re.search(rf"cold items\s+{cold.group(1)}\s+in test", check_says), check_says
    never = re.search(r"(\d+) items never shown", world_says)  # the seed-0 tiny world releases some too late
    shown, total = re.search(r"items shown\s+([\d,]+) of ([\d,]+)", check_says).groups()
    assert never and int(never.group(1)) == int(total.replace(",", "")) - int(shown.replace(",", ""))

"""Run `python -m training import ...` in-process and read what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from training.cli import main


def run_import(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["import", *(str(a) for a in argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def provenance(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())


def skipped(out: Path) -> dict[tuple[str, str | None, str], int]:
    """(file, column, reason) → rows, from dataset.json."""
    return {(s["file"], s["column"], s["reason"]): s["rows"] for s in provenance(out)["skipped"]}


def events(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "events.parquet")


def items(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "items.parquet")

"""What export reads from a training run directory besides the weights: data dir and evaluation figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_export.errors import ExportError

CONFIG_FILE = "config.json"
EVALUATION_FILES = ("eval/metrics.json", "eval/summary.json", "summary.json")
_DATA_KEYS = ("data", "data_dir")


def data_dir_from_config(config: dict[str, Any], run_dir: str | Path) -> Path:
    """The dataset directory the run trained on, as recorded in its resolved config (`data`).

    A relative path was relative to where training ran; when that is not here, try the run's directory.
    """
    for key in _DATA_KEYS:
        value = config.get(key)
        if isinstance(value, str) and value:
            path = Path(value)
            if path.is_absolute() or path.is_dir() or not (Path(run_dir) / path).is_dir():
                return path
            return Path(run_dir) / path
    raise ExportError(
        f"{Path(run_dir) / CONFIG_FILE} records no data dir; pass --data DIR for the parity check"
    )


def evaluation_figures(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's evaluation/summary JSON files keyed by their path in the run, or None when there are none."""
    figures: dict[str, Any] = {}
    for relative in EVALUATION_FILES:
        path = Path(run_dir) / relative
        if path.is_file():
            try:
                figures[relative] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ExportError(f"{path} is not valid JSON: {exc}") from None
    return figures or None

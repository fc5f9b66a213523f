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


def evaluation_figures(run_dir: str | Path, eval_file: Path | None = None) -> dict[str, Any] | None:
    """The run's evaluation/summary JSON files keyed by their path in the run, or None when there are none.

    `eval_file` (a `training eval` metrics.json kept outside the run) stands in for RUN_DIR/eval/metrics.json.
    """
    paths = {relative: Path(run_dir) / relative for relative in EVALUATION_FILES}
    if eval_file is not None:
        if not eval_file.is_file():
            raise ExportError(f"--eval {eval_file}: no such file")
        paths[EVALUATION_FILES[0]] = eval_file
    figures: dict[str, Any] = {}
    for relative, path in paths.items():
        if path.is_file():
            try:
                figures[relative] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ExportError(f"{path} is not valid JSON: {exc}") from None
    return figures or None


def evaluation_note(run_dir: str | Path, eval_file: Path | None) -> str:
    """The line export prints about where the manifest's evaluation figures come from."""
    path = eval_file or Path(run_dir) / EVALUATION_FILES[0]
    if path.is_file():
        return f"evaluation figures: {path}"
    return (
        f"evaluation figures: none ({path} does not exist; write them with `python -m training eval "
        f"... --out {Path(run_dir) / 'eval'}`, or pass --eval METRICS_JSON)"
    )

"""Run a comparison step by step. A step is done when its output exists and is complete, so a second
call reuses everything and a killed call resumes (training continues from its last checkpoint).

Training and embedding run as `sys.executable -m training ...` subprocesses (their progress shows in the
terminal, and the comparison does not depend on the training library's internals); evaluation runs
in-process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from courier_core.embeddings_file import read_embeddings
from training.compare.plan import CompareConfig, Row
from training.ctr.evaluate import evaluate, write_metrics
from training.probes import WORLD_FILE, load_world_factors, probe_embeddings, write_factor_embeddings


class StepError(RuntimeError):
    """A step failed; the message names the command and says how to resume."""


class Layout:
    """Where each step of a row writes: CMP_DIR/{runs,embeddings,eval,probes}/<row>."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def run_dir(self, row: str) -> Path:
        return self.out / "runs" / row

    def embeddings(self, row: str) -> Path:
        return self.out / "embeddings" / f"{row}.parquet"

    def metrics(self, row: str) -> Path:
        return self.out / "eval" / row / "metrics.json"

    def probes(self, row: str) -> Path:
        return self.out / "probes" / f"{row}.json"


def _log(message: str) -> None:
    print(f"[compare] {message}", flush=True)


def _newer(path: Path, than: Path) -> bool:
    return path.is_file() and than.is_file() and path.stat().st_mtime >= than.stat().st_mtime


def _subprocess(args: list[str], what: str) -> None:
    command = [sys.executable, "-m", "training", *args]
    _log(f"{what}: {' '.join(command[1:])}")
    code = subprocess.call(command)
    if code != 0:
        raise StepError(
            f"{what} failed (exit {code}): {' '.join(command)}\nfix the cause and rerun compare to resume"
        )


class Runner:
    def __init__(self, config: CompareConfig) -> None:
        self.config = config
        self.layout = Layout(config.out)

    def train(self, row: Row) -> None:
        run_dir = self.layout.run_dir(row.name)
        if (run_dir / "summary.json").is_file():
            _log(f"{row.name}: training done, reused")
            return
        args = ["train", "--data", str(self.config.data), "--method", row.method, "--out", str(run_dir)]
        if self.config.epochs is not None:
            args += ["--epochs", str(self.config.epochs)]
        if self.config.max_steps is not None:
            args += ["--max-steps", str(self.config.max_steps)]
        args += [*self.config.train_args, *row.train_flags]
        if row.init_from:
            args += ["--init-from", str(self.layout.run_dir(row.init_from))]
        if (run_dir / "checkpoints" / "last.pt").is_file():
            args.append("--resume")
        _subprocess(args, f"{row.name}: train")

    def embed(self, row: Row) -> None:
        path = self.layout.embeddings(row.name)
        if _newer(path, self.layout.run_dir(row.name) / "summary.json"):
            _log(f"{row.name}: embeddings done, reused")
            return
        args = ["embed", "--run", str(self.layout.run_dir(row.name)), "--data", str(self.config.data)]
        _subprocess([*args, "--out", str(path)], f"{row.name}: embed")

    def factor_embeddings(self, row: Row) -> None:
        """The reference row's embeddings: the world's true taste factors (see training.probes)."""
        path = self.layout.embeddings(row.name)
        if _newer(path, self.config.data / WORLD_FILE):
            _log(f"{row.name}: embeddings done, reused")
            return
        _log(f"{row.name}: embeddings from {WORLD_FILE}")
        if not write_factor_embeddings(self.config.data, path):
            raise StepError(
                f"{row.name}: {self.config.data / WORLD_FILE} is missing; it is needed for this row"
            )

    def _eval_done(self, row: Row) -> bool:
        path = self.layout.metrics(row.name)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        settings = json.loads(json.dumps(asdict(self.config.eval)))
        same = doc.get("fingerprint", {}).get("config") == settings
        same &= doc.get("fingerprint", {}).get("data") == str(self.config.data.resolve())
        if row.has_images:
            same &= _newer(path, self.layout.embeddings(row.name))
        return bool(doc.get("complete")) and same

    def eval(self, row: Row) -> None:
        if self._eval_done(row):
            _log(f"{row.name}: evaluation done, reused")
            return
        _log(f"{row.name}: eval ({self.config.eval.seeds} seeds)")
        embeddings = self.layout.embeddings(row.name) if row.has_images else None
        baseline = self.layout.metrics("none") if row.has_images else None
        doc = evaluate(self.config.data, embeddings, self.config.eval, baseline)
        write_metrics(self.layout.metrics(row.name).parent, doc)

    def probe(self, row: Row) -> None:
        path, source = self.layout.probes(row.name), self.layout.embeddings(row.name)
        if _newer(path, source):
            return
        world = load_world_factors(self.config.data)
        if world is None:
            return
        factors, groups = world
        started = time.perf_counter()
        results = [r.to_dict() for r in probe_embeddings(read_embeddings(source), factors, groups)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
        _log(f"{row.name}: probes ({time.perf_counter() - started:.1f} s)")

    def run_row(self, row: Row) -> None:
        if row.reference:
            self.factor_embeddings(row)
        elif row.has_images:
            self.train(row)
            self.embed(row)
        self.eval(row)
        if row.trains_encoder:
            self.probe(row)


def load_row_outputs(layout: Layout, row: Row) -> dict[str, Any]:
    """Everything the report needs about one finished row."""
    metrics = json.loads(layout.metrics(row.name).read_text())
    out: dict[str, Any] = {"metrics": metrics, "summary": None, "probes": None, "has_training_png": False}
    if row.trains_encoder:
        out["has_training_png"] = (layout.run_dir(row.name) / "training.png").is_file()
        out["summary"] = json.loads((layout.run_dir(row.name) / "summary.json").read_text())
        probes = layout.probes(row.name)
        out["probes"] = json.loads(probes.read_text()) if probes.is_file() else None
    return out

"""`python -m training compare --data DIR --out CMP_DIR`: train, embed and evaluate every method with the
same budget, plus the ablation rows (courier with λ = 0; courier initialised from the simclr run), and
write CMP_DIR/report.md, report.json and auc.png.

Finished steps are reused (a run with summary.json, embeddings newer than it, a complete metrics.json
with the same evaluation settings); after a kill, rerun the same command: training resumes from its
last checkpoint. Training flags for every method go in --epochs, --max-steps and --train-args, e.g.
  --train-args "--image-size 48 --lr 1e-3"   (a single flag: --train-args=--amp)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from courier_core.dataset import DatasetError
from courier_core.embeddings_file import EmbeddingsFileError
from training.commands.eval import add_ctr_arguments
from training.commands.eval import config_from_args as eval_config_from_args
from training.compare.compare import run_compare
from training.compare.plan import ABLATIONS, DEFAULT_MAX_STEPS, METHODS, CompareConfig, PlanError
from training.compare.runner import StepError
from training.ctr.evaluate import BaselineError


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.add_argument("--data", required=True, help="dataset directory (DESIGN §2)")
    parser.add_argument("--out", required=True, help="comparison directory (runs, embeddings, eval, report)")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma list (default {','.join(METHODS)})"
    )
    parser.add_argument(
        "--ablations",
        default=",".join(ABLATIONS),
        help=f"comma list, '' for none (default {','.join(ABLATIONS)})",
    )
    parser.add_argument("--epochs", type=int, help="pre-training epochs for every method (default: train's)")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        help=f"cap on every pre-training run's steps, 0 for none (default {DEFAULT_MAX_STEPS}: sized so the "
        "default world's comparison fits 90 min on 2 CPU cores: 45 min measured)",
    )
    parser.add_argument("--train-args", default="", help="further `train` flags for every method, one string")
    add_ctr_arguments(parser)


def run(args: argparse.Namespace) -> int:
    methods = _names(args.methods)
    config = CompareConfig(
        data=Path(args.data),
        out=Path(args.out),
        methods=methods if "none" in methods else ("none", *methods),
        ablations=_names(args.ablations),
        epochs=args.epochs,
        max_steps=args.max_steps or None,
        train_args=tuple(shlex.split(args.train_args)),
        eval=eval_config_from_args(args),
    )
    try:
        run_compare(config)
    except (PlanError, StepError, DatasetError, EmbeddingsFileError, BaselineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

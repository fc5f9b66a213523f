"""`python -m model_export --run RUN_DIR --out MODEL_REPO ...` exports; `python -m model_export inspect DIR`
re-checks an exported model. argparse lives here only; the library takes ExportConfig."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from courier_core.model_repo import ModelError
from model_export.defaults import DEFAULT_DATASET_IMAGES, DEFAULT_NAME, DEFAULT_OPSET
from model_export.errors import ExportError

INSPECT = "inspect"


def export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_export",
        description="Export a training run's encoder to a versioned, parity-checked ONNX model repository. "
        "Use `python -m model_export inspect DIR` to re-check an exported model.",
    )
    parser.add_argument(
        "--run", required=True, type=Path, help="training run directory (config.json, checkpoints/)"
    )
    parser.add_argument("--out", required=True, type=Path, help="model repository root")
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default: {DEFAULT_OPSET})"
    )
    parser.add_argument("--checkpoint", choices=("last", "best"), default="last")
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset dir for parity images (default: the run's)"
    )
    parser.add_argument(
        "--eval",
        type=Path,
        default=None,
        help="the run's `training eval` metrics.json, recorded in the manifest (default: RUN_DIR/eval/metrics.json)",
    )
    parser.add_argument(
        "--parity-images",
        type=int,
        default=DEFAULT_DATASET_IMAGES,
        help=f"dataset images in the parity check, besides the generated odd-sized ones (default: {DEFAULT_DATASET_IMAGES})",
    )
    return parser


def inspect_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_export inspect",
        description="Print a model's manifest and a one-line verdict after re-checking its hash and I/O.",
    )
    parser.add_argument(
        "model_dir", type=Path, help="MODEL_REPO/<name>/<version> or MODEL_REPO/<name> (latest)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == INSPECT:
        return run_inspect(inspect_parser().parse_args(argv[1:]))
    return run_export(export_parser().parse_args(argv))


def run_export(args: argparse.Namespace) -> int:
    from courier_core.dataset import DatasetError
    from courier_core.images import ImageError
    from model_export.export import ExportConfig, export_run

    config = ExportConfig(
        repo=args.out,
        name=args.name,
        precision=args.precision,
        opset=args.opset,
        checkpoint=args.checkpoint,
        data_dir=args.data,
        eval_file=args.eval,
        parity_dataset_images=args.parity_images,
    )
    try:
        result = export_run(args.run, config, log=lambda message: print(message, flush=True))
    except (ExportError, ModelError, DatasetError, ImageError) as exc:
        print(f"export failed, nothing published: {exc}", file=sys.stderr)
        return 1
    print(result.model_dir)
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from model_export.inspect_model import verify_model

    verdict = verify_model(args.model_dir)
    if verdict.manifest is not None:
        print(json.dumps(verdict.manifest.model_dump(mode="json"), indent=2, sort_keys=True))
    print(verdict.line())
    return 0 if verdict.ok else 1

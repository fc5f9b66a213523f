"""Parity (and a rough speed figure) of an fp16 export under onnxruntime's CUDAExecutionProvider.

Two ways to run it:
  python benchmarks/export_fp16_gpu.py --run RUN_DIR [--out REPO]
      exports the run in fp32 and fp16 (needs torch), with the parity gate itself running on CUDA;
  python benchmarks/export_fp16_gpu.py --fp16 REPO/NAME/V16 --fp32 REPO/NAME/V32 [--data DIR]
      torch-free: compares an fp16 model on CUDA against the fp32 model on CPU (only onnxruntime-gpu needed).
Without CUDA it says so and checks on CPU; `--require-cuda` makes that an error. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from courier_core.images import decode_image
from courier_core.model_repo import load_model_dir
from model_export.parity import FP16_MIN_COSINE, compare
from model_export.parity_images import dataset_images, odd_image_files
from model_export.session import CPU, CUDA, open_checked_session, run_batches


def providers(require_cuda: bool) -> tuple[str, ...]:
    if CUDA in ort.get_available_providers():
        return (CUDA, CPU)
    if require_cuda:
        sys.exit(f"CUDAExecutionProvider is not available (have {ort.get_available_providers()})")
    return (CPU,)


def export_and_check(run_dir: Path, repo: Path, chosen: tuple[str, ...]) -> dict[str, Any]:
    """Export fp32 and fp16 with the parity gate running on `chosen` providers; return both manifests' parity."""
    from model_export.export import ExportConfig, export_run

    results = {}
    for precision in ("fp32", "fp16"):
        config = ExportConfig(repo=repo, name="fp16-check", precision=precision, providers=chosen)
        result = export_run(run_dir, config, log=lambda message: print(message, file=sys.stderr))
        results[precision] = {"model_dir": str(result.model_dir), "parity": result.manifest.parity}
    results["timing"] = timing(Path(results["fp16"]["model_dir"]), Path(results["fp32"]["model_dir"]), chosen)
    return results


def compare_models(
    fp16_dir: Path, fp32_dir: Path, data: Path | None, chosen: tuple[str, ...]
) -> dict[str, Any]:
    """fp16 on `chosen` vs fp32 on CPU, on generated odd images (plus dataset images when given)."""
    fp16, fp32 = load_model_dir(fp16_dir), load_model_dir(fp32_dir)
    size = fp16.manifest.input_size
    images = np.stack([decode_image(data_bytes, size) for _, data_bytes in odd_image_files()])
    if data is not None:
        images = np.concatenate([dataset_images(data, size, 64), images])
    session16 = open_checked_session(fp16.onnx_path, fp16.manifest, chosen)
    session32 = open_checked_session(fp32.onnx_path, fp32.manifest, (CPU,))
    out16, ref = run_batches(session16, images), run_batches(session32, images)
    single = run_batches(session16, images[:7], batch_size=1)
    max_diff, min_cos = compare(out16, ref)
    _, batch_cos = compare(single, out16[:7])
    return {
        "provider": session16.get_providers()[0],
        "images": len(images),
        "max_abs_diff_vs_fp32": max_diff,
        "min_cosine_vs_fp32": min_cos,
        "batch_1_vs_7_min_cosine": batch_cos,
        "passed": min_cos >= FP16_MIN_COSINE and batch_cos >= FP16_MIN_COSINE,
        "timing": timing(fp16_dir, fp32_dir, chosen),
    }


def timing(fp16_dir: Path, fp32_dir: Path, chosen: tuple[str, ...], repeats: int = 20) -> dict[str, float]:
    """Median milliseconds per batch of 32 for each precision on `chosen` (a rough figure, not a benchmark)."""
    figures = {}
    for label, path in (("fp16", fp16_dir), ("fp32", fp32_dir)):
        model = load_model_dir(path)
        session = open_checked_session(model.onnx_path, model.manifest, chosen)
        size = model.manifest.input_size
        batch = np.random.default_rng(0).integers(0, 256, (32, size, size, 3), dtype=np.uint8)
        run_batches(session, batch)  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run_batches(session, batch)
            times.append((time.perf_counter() - started) * 1000)
        figures[f"{label}_ms_per_batch32"] = float(np.median(times))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, help="training run to export in fp32 and fp16")
    parser.add_argument(
        "--out", type=Path, help="model repository for --run (default: a temporary directory)"
    )
    parser.add_argument("--fp16", type=Path, help="an fp16 model directory (with --fp32)")
    parser.add_argument("--fp32", type=Path, help="the fp32 model directory of the same checkpoint")
    parser.add_argument("--data", type=Path, help="dataset dir for extra real images (with --fp16/--fp32)")
    parser.add_argument("--require-cuda", action="store_true", help="fail instead of falling back to CPU")
    args = parser.parse_args(argv)
    chosen = providers(args.require_cuda)
    if args.run is not None:
        with tempfile.TemporaryDirectory() as scratch:
            report = export_and_check(args.run, args.out or Path(scratch), chosen)
        passed = True  # export_run raises when the parity gate fails
    elif args.fp16 is not None and args.fp32 is not None:
        report = compare_models(args.fp16, args.fp32, args.data, chosen)
        passed = report["passed"]
    else:
        parser.error("give --run RUN_DIR, or --fp16 DIR and --fp32 DIR")
    report["cuda"] = chosen[0] == CUDA
    report["onnxruntime"] = ort.__version__
    print(json.dumps(report, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

"""Engine throughput per batch size on one execution provider (the CUDA numbers in RESULTS.md).

Runs the service's own `OnnxEngine` (same loading, checks, I/O binding and bucket padding as serving) on
random uint8 images of the model's input size, so it measures model time only, not decoding.

    python benchmarks/gpu_engine.py --model MODEL_REPO/NAME --provider cuda --batch-sizes 1 32 128
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from service.runtime.engine import OnnxEngine


def measure(engine: OnnxEngine, batch: int, seconds: float) -> dict[str, float]:
    """items/s and per-batch latency percentiles for one batch size, after the warm-up."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch, engine.input_size, engine.input_size, 3), dtype=np.uint8)
    engine.embed(images)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(latencies) < 5:
        start = time.perf_counter()
        engine.embed(images)
        latencies.append(time.perf_counter() - start)
    total = sum(latencies)
    return {
        "batch": batch,
        "items_per_s": round(batch * len(latencies) / total, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 3),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 3),
        "batches": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model version directory or <repo>/<name>")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per batch size")
    args = parser.parse_args()
    engine = OnnxEngine.load(args.model, providers=args.provider)
    engine.warmup(args.batch_sizes)
    manifest = engine.manifest
    print(
        f"model {manifest.name}/{manifest.version} precision {manifest.precision} input {engine.input_size}px "
        f"dim {engine.dim} provider {engine.provider}"
    )
    for batch in args.batch_sizes:
        row = measure(engine, batch, args.seconds)
        print(
            json.dumps(
                {"model": manifest.name, "precision": manifest.precision, "provider": engine.provider, **row}
            )
        )


if __name__ == "__main__":
    main()

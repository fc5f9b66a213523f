"""`python -m model_export.demo --repo models --name courier-demo`: make sure `make serve` has a model.

If `<repo>/<name>/latest` loads, say where and stop. Otherwise build one in a couple of minutes on a
laptop CPU: a tiny synthetic world, a short COURIER training run and an export, each step through its own
CLI so its progress output shows. Intermediate files live in `<repo>/.demo/` and are reused when complete.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from model_export.inspect_model import verify_model

DEMO_DIR = ".demo"


@dataclass(frozen=True)
class DemoConfig:
    repo: Path
    name: str = "courier-demo"
    image_size: int = 64
    dim: int = 64
    backbone: str = "resnet-tiny"
    epochs: int = 2
    seed: int = 0


def ensure_demo_model(config: DemoConfig) -> int:
    """Return 0 when `<repo>/<name>/latest` is a loadable model (built now if needed), else the failed exit code."""
    existing = verify_model(config.repo / config.name)
    if existing.ok:
        manifest = existing.manifest
        print(f"demo model ready: {existing.model_dir} ({manifest.dim}-d, {manifest.precision})")
        return 0
    print(f"no usable demo model ({existing.message}); building one in {config.repo / DEMO_DIR}", flush=True)
    started = time.perf_counter()
    steps = _steps(config)
    for number, (title, command) in enumerate(steps, start=1):
        print(f"\n[{number}/{len(steps)}] {title}: python -m {' '.join(command)}", flush=True)
        code = subprocess.run([sys.executable, "-m", *command], check=False).returncode
        if code != 0:
            print(f"demo model: step '{title}' failed with exit code {code}", file=sys.stderr)
            return code
    print(f"\ndemo model built in {time.perf_counter() - started:.0f}s: {config.repo / config.name}")
    return 0


def _steps(config: DemoConfig) -> list[tuple[str, list[str]]]:
    """The CLI calls still needed; a finished world or run from an earlier attempt is reused."""
    work = (config.repo / DEMO_DIR).resolve()
    world, run = work / "world", work / "run"
    sizes = ["--image-size", str(config.image_size), "--seed", str(config.seed)]
    steps = []
    if not (world / "items.parquet").is_file():
        shutil.rmtree(world, ignore_errors=True)
        steps.append(
            ("tiny synthetic world", ["training", "world", "--preset", "tiny", *sizes, "--out", str(world)])
        )
    if not (run / "summary.json").is_file():
        shutil.rmtree(run, ignore_errors=True)
        train = [
            "training",
            "train",
            "--data",
            str(world),
            "--method",
            "courier",
            "--backbone",
            config.backbone,
        ]
        train += [*sizes, "--dim", str(config.dim), "--epochs", str(config.epochs), "--out", str(run)]
        steps.append(("short COURIER training", train))
    export = ["model_export", "--run", str(run), "--out", str(config.repo), "--name", config.name]
    steps.append(("ONNX export", export))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export.demo", description=__doc__)
    parser.add_argument(
        "--repo", type=Path, default=Path("models"), help="model repository (default: models)"
    )
    parser.add_argument("--name", default=DemoConfig.name, help=f"model name (default: {DemoConfig.name})")
    parser.add_argument("--epochs", type=int, default=DemoConfig.epochs, help="training epochs (default: 2)")
    args = parser.parse_args(argv)
    return ensure_demo_model(DemoConfig(repo=args.repo, name=args.name, epochs=args.epochs))


if __name__ == "__main__":
    sys.exit(main())

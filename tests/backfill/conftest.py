"""Catalogues of real images (JPEG and PNG, plus corrupt and missing files) and helpers to run the backfill:
in this process through the command's own `main` (exit code, JSON summary, messages), or as a real
process where a process matters (signals, kills, Ray)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from PIL import Image

from courier_core.cache_keys import bytes_to_vector, embedding_key
from courier_core.images import read_image_file
from harness.models import ModelRepo
from harness.redis import RedisServer
from service.backfill.cli import main as backfill_main
from service.runtime.engine import OnnxEngine

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CatalogueDir:
    root: Path
    good: list[str]
    corrupt: list[str]
    missing: list[str]

    @property
    def all_ids(self) -> list[str]:
        return pd.read_parquet(self.root / "items.parquet")["item_id"].tolist()


def image_bytes(rng: np.random.Generator, fmt: str) -> bytes:
    """A real photo-like image: smooth gradient plus noise, random size and aspect ratio."""
    height, width = int(rng.integers(40, 90)), int(rng.integers(40, 90))
    y, x = np.mgrid[0:height, 0:width]
    base = rng.integers(0, 255, 3)
    pixels = (base + 0.8 * x[..., None] + 0.5 * y[..., None] + rng.normal(0, 12, (height, width, 3))) % 256
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, fmt)
    return buffer.getvalue()


def write_catalogue(
    root: Path, count: int, *, corrupt: int = 0, missing: int = 0, seed: int = 0
) -> CatalogueDir:
    """`count` items; the first `corrupt` have broken bytes, the next `missing` point at no file."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids, images = [], []
    bad, lost = [], []
    for k in range(count):
        item_id = f"item-{seed}-{k:04d}"
        fmt = "PNG" if k % 7 == 3 else "JPEG"
        rel = f"images/{item_id}.{'png' if fmt == 'PNG' else 'jpg'}"
        if k < corrupt:
            (root / rel).write_bytes(image_bytes(rng, "JPEG")[:60] if k % 2 else b"not an image at all")
            bad.append(item_id)
        elif k < corrupt + missing:
            lost.append(item_id)
        else:
            (root / rel).write_bytes(image_bytes(rng, fmt))
        ids.append(item_id)
        images.append(rel)
    order = rng.permutation(count)  # bad items spread through the file, not all in chunk one
    pd.DataFrame(
        {
            "item_id": [ids[i] for i in order],
            "image": [images[i] for i in order],
            "title": ["t"] * count,
            "category": ["c"] * count,
        }
    ).to_parquet(root / "items.parquet", index=False)
    good = [i for i in ids if i not in bad and i not in lost]
    return CatalogueDir(root, good, bad, lost)


@pytest.fixture(scope="session")
def mixed_catalogue(tmp_path_factory: pytest.TempPathFactory) -> CatalogueDir:
    """40 items: 3 corrupt images, 2 missing files, the rest good JPEGs and PNGs."""
    return write_catalogue(tmp_path_factory.mktemp("catalogue") / "data", 40, corrupt=3, missing=2, seed=1)


@pytest.fixture(scope="session")
def clean_catalogue(tmp_path_factory: pytest.TempPathFactory) -> CatalogueDir:
    return write_catalogue(tmp_path_factory.mktemp("clean") / "data", 30, seed=2)


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's redis-server, emptied for this test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture(scope="session")
def engine(onnx_model_repo: ModelRepo) -> OnnxEngine:
    return OnnxEngine.load(onnx_model_repo.version_dir, providers="cpu")


def expected_vectors(engine: OnnxEngine, catalogue: CatalogueDir, ids: list[str]) -> dict[str, np.ndarray]:
    """What the service's engine returns for each item's image, decoded by the shared function."""
    items = pd.read_parquet(catalogue.root / "items.parquet").set_index("item_id")
    images = np.stack(
        [read_image_file(catalogue.root / items.loc[i, "image"], engine.input_size) for i in ids]
    )
    return dict(zip(ids, engine.embed(images), strict=True))


def cached_vectors(url: str, version: str, ids: list[str], dim: int) -> dict[str, np.ndarray]:
    client = redis.Redis.from_url(url)
    values = client.mget([embedding_key(version, i) for i in ids])
    client.close()
    return {i: v for i, raw in zip(ids, values, strict=True) if (v := bytes_to_vector(raw, dim)) is not None}


_INHERITED = (
    "REDIS_URL",
    "COURIER_REDIS_MODE",
    "JOB_COMPLETION_INDEX",
    "COURIER_FETCH_ALLOW_HOSTS",
    "COURIER_FETCH_ALLOW_HTTP",
)


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads defaults from these variables; each test states what it uses."""
    for name in _INHERITED:
        monkeypatch.delenv(name, raising=False)


def backfill_args(catalogue: CatalogueDir, repo: ModelRepo, *extra: str) -> list[str]:
    return [
        "--data",
        str(catalogue.root),
        "--model",
        str(repo.root),
        "--name",
        repo.name,
        "--chunk-size",
        "4",
        "--batch-size",
        "4",
        "--decode-workers",
        "2",
        "--threads",
        "1",
        "--json",
        *extra,
    ]


def backfill_command(catalogue: CatalogueDir, repo: ModelRepo, *extra: str) -> list[str]:
    """`python -m service.backfill ...`, for a real process."""
    return [sys.executable, "-m", "service.backfill", *backfill_args(catalogue, repo, *extra)]


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _INHERITED}


def _summary(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def run_backfill_cli(catalogue: CatalogueDir, repo: ModelRepo, *extra: str) -> tuple[int, dict, str]:
    """The command's `main` in this process; returns (exit code, the JSON summary line, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = backfill_main(backfill_args(catalogue, repo, *extra))
    return code, _summary(out.getvalue()), err.getvalue()


def run_backfill_process(
    catalogue: CatalogueDir, repo: ModelRepo, *extra: str, timeout: float = 120
) -> tuple[int, dict, str]:
    """The command as a real process; returns (exit code, the JSON summary line, stderr)."""
    done = subprocess.run(
        backfill_command(catalogue, repo, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=child_env(),
    )
    return done.returncode, _summary(done.stdout), done.stderr

"""Hostile image bytes: every exception an image library raises becomes the item's typed image error
(never an escape that fails a chunk or stops a backfill), and messages carry no Python object reprs.

The bounded fuzz runs in `make test` (fixed seed); the long one is marked `soak`
(`pytest -m soak tests/reliability/test_hostile_images.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import redis

from courier_core.errors import ItemCode
from courier_core.images import ImageError, decode_image
from harness.models import ModelRepo
from harness.redis import RedisServer
from service.backfill.cli import EXIT_CRASHED, EXIT_FAILED_ITEMS, main
from tests.backfill.conftest import CatalogueDir, backfill_args, run_backfill_cli, write_catalogue
from tests.reliability.crafted import dds_file, mutations

SIZE = 16


@pytest.mark.parametrize(
    ("fourcc", "flags"), [(b"XXXX", 0x4), (b"DX10", 0x4), (b"\0\0\0\0", 0x80000), (b"\0\0\0\0", 0x200)]
)
def test_a_dds_file_pillow_cannot_decode_is_an_image_decode_error(fourcc: bytes, flags: int) -> None:
    """Pillow raises NotImplementedError on these 384-byte files (it escaped decode_image before)."""
    with pytest.raises(ImageError) as raised:
        decode_image(dds_file(fourcc, flags), SIZE)
    assert raised.value.code == ItemCode.IMAGE_DECODE_ERROR


def test_unidentified_bytes_name_no_python_object() -> None:
    with pytest.raises(ImageError) as raised:
        decode_image(b"this is not an image at all", SIZE)
    assert "object at 0x" not in raised.value.message
    assert raised.value.message == "cannot decode image: not a recognised image format"


def fuzz(seed: int, count: int) -> dict[str, int]:
    """Decode `count` mutated images; returns how many ended in each way. Anything but ImageError raises."""
    outcomes = {"decoded": 0, "image_error": 0}
    for data in mutations(seed, count):
        try:
            decode_image(data, SIZE)
            outcomes["decoded"] += 1
        except ImageError as exc:
            assert exc.code in (ItemCode.IMAGE_DECODE_ERROR, ItemCode.IMAGE_TOO_LARGE)
            assert "object at 0x" not in exc.message, exc.message
            outcomes["image_error"] += 1
    return outcomes


def test_bounded_mutation_fuzz_only_raises_image_errors() -> None:
    """3,000 mutations of JPEG/PNG/WebP/GIF/BMP/TIFF/DDS files (~1.5 s); before the fix this seed let
    NotImplementedError escape and put object reprs in messages."""
    outcomes = fuzz(seed=13, count=3000)
    assert outcomes["image_error"] > 500 and outcomes["decoded"] > 500  # both paths really exercised


@pytest.mark.soak
def test_long_mutation_fuzz_only_raises_image_errors() -> None:
    outcomes = fuzz(seed=2024, count=200_000)
    print(f"\nFAULT decode_fuzz mutations=200000 {json.dumps(outcomes)}")


def catalogue_with_dds(root: Path) -> tuple[CatalogueDir, str]:
    """A clean catalogue plus one item whose `.jpg` file is the DDS file."""
    catalogue = write_catalogue(root, 12, seed=5)
    items = pd.read_parquet(root / "items.parquet")
    (root / "images" / "crafted.jpg").write_bytes(dds_file())
    extra = pd.DataFrame(
        {"item_id": ["crafted"], "image": ["images/crafted.jpg"], "title": ["t"], "category": ["c"]}
    )
    pd.concat([items.iloc[:5], extra, items.iloc[5:]]).to_parquet(root / "items.parquet", index=False)
    return catalogue, "crafted"


def test_a_crafted_image_fails_alone_and_the_backfill_finishes(
    onnx_model_repo: ModelRepo, tmp_path: Path
) -> None:
    catalogue, crafted = catalogue_with_dds(tmp_path / "data")
    out = tmp_path / "emb.parquet"
    code, summary, stderr = run_backfill_cli(catalogue, onnx_model_repo, "--parquet-out", str(out))
    assert code == EXIT_FAILED_ITEMS, stderr
    assert summary["embedded"] == len(catalogue.good)
    assert summary["failed"] == {"image_decode_error": {"count": 1, "first_item_ids": [crafted]}}
    assert "Traceback" not in stderr
    assert out.exists()


def test_a_crash_exits_3_not_the_failed_items_code(
    clean_catalogue_dir: CatalogueDir, onnx_model_repo: ModelRepo, tmp_path: Path, monkeypatch
) -> None:
    """An unforeseen error (here: the catalogue reader raises a plain RuntimeError) is told apart from
    "some items failed": exit 3 with the traceback."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr("service.backfill.run.read_catalogue", broken)
    code, summary, stderr = run_backfill_cli(
        clean_catalogue_dir, onnx_model_repo, "--parquet-out", str(tmp_path / "emb.parquet")
    )
    assert code == EXIT_CRASHED
    assert summary == {}
    assert "RuntimeError: injected failure" in stderr and "crashed" in stderr


def test_json_prints_only_the_json_line_and_a_rerun_says_already_current(
    clean_catalogue_dir: CatalogueDir, onnx_model_repo: ModelRepo, redis_server: RedisServer, capsys
) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    args = ("--redis", redis_server.url, "--promote")
    code, first, _ = run_backfill_cli(clean_catalogue_dir, onnx_model_repo, *args)
    assert code == 0 and first["promoted"] is True
    assert first["promotion"] == f"current version moved None -> {first['version']!r}"
    code, again, _ = run_backfill_cli(clean_catalogue_dir, onnx_model_repo, *args)
    assert code == 0 and again["promotion"] == f"current version already {first['version']!r}"

    assert main(backfill_args(clean_catalogue_dir, onnx_model_repo, *args)) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and json.loads(out)["skipped_cached"] == len(clean_catalogue_dir.good)
    assert "backfill done" not in out + err


@pytest.fixture(scope="module")
def clean_catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> CatalogueDir:
    return write_catalogue(tmp_path_factory.mktemp("clean") / "data", 10, seed=9)


@pytest.fixture(autouse=True)
def _no_redis_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)

"""`import amazon2023`: reviews as clicks, meta as items; images kept as URLs or fetched from a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from courier_core.dataset import load_dataset
from tests.importers.helpers import events, items, provenance, run_import, skipped
from tests.importers.layouts import write_amazon
from tests.importers.server import ImageServer

CATEGORY = "Amazon_Fashion"
REVIEWS = f"{CATEGORY}.jsonl"
META = f"meta_{CATEGORY}.jsonl"


@pytest.fixture
def src(tmp_path: Path, image_server: ImageServer) -> Path:
    root = tmp_path / "src"
    image_server.files.update(write_amazon(root, CATEGORY, image_server.base))
    return root


def _argv(src: Path, out: Path, *extra: str) -> tuple[str | Path, ...]:
    return ("amazon2023", "--src", src, "--category", CATEGORY, "--out", out, "--negatives", "4", *extra)


def _download(server: ImageServer) -> tuple[str, ...]:
    return (
        "--images",
        "download",
        "--allow-host",
        "127.0.0.1",
        "--allow-http",
        "127.0.0.1",
        "--retries",
        "1",
    )


def _reviews(src: Path) -> list[dict]:
    return [json.loads(line) for line in (src / REVIEWS).read_text().splitlines()]


def test_reviews_become_page_views_and_items_keep_their_urls(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], image_server: ImageServer
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run_import(capsys, *_argv(src, out))
    assert code == 0, stdout
    assert f"dataset {out}: OK" in stdout and "0 local images, 12 URLs" in stdout
    assert image_server.requests == []  # URL mode fetches nothing
    table = items(out).set_index("item_id")
    assert table.loc["B000000001", "image"] == f"{image_server.base}/B000000001.jpg"  # MAIN variant, large
    assert table.loc["B000000001", "category"] == "Clothing, Shoes & Jewelry > Men > Shoes"
    assert table.loc["B000000010", "category"] == "AMAZON FASHION"  # no categories: main_category
    assert table.loc["B000000002", "title"] == "Leather boot"
    day = 86_400_000
    reviews = _reviews(src)
    clicks = events(out).query("clicked == 1")
    want = {(r["user_id"], r["parent_asin"], r["timestamp"] // day * day) for r in reviews}
    assert set(zip(clicks["user_id"], clicks["item_id"], clicks["ts"], strict=True)) == want
    doc = provenance(out)
    assert doc["importer"] == "amazon2023" and "kept as a URL" in doc["items"]


def test_download_fetches_images_counts_dead_urls_and_resumes(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], image_server: ImageServer
) -> None:
    del image_server.files["/B000000003.jpg"]  # a dead image URL
    out = tmp_path / "out"
    code, stdout, _ = run_import(capsys, *_argv(src, out, *_download(image_server)))
    assert code == 0, stdout
    assert "images: 11 fetched, 0 already present, 1 failed (fetch_error 1)" in stdout
    assert "B000000003.jpg answered HTTP 404" in stdout
    dataset = load_dataset(out, image_check="full")
    assert (~dataset.items["image"].str.startswith("http")).all() and len(dataset.items) == 11
    dead = sum(r["parent_asin"] == "B000000003" for r in _reviews(src))
    assert skipped(out)[(REVIEWS, "parent_asin", "item image unavailable: fetch_error")] == dead
    assert "B000000003" not in set(events(out)["item_id"])
    fetched = len(image_server.requests)

    # A rerun (after a kill, or to retry failures) fetches only what is missing.
    code, stdout, _ = run_import(capsys, *_argv(src, out, *_download(image_server)))
    assert code == 0 and "images: 0 fetched, 11 already present, 1 failed" in stdout
    assert image_server.requests[fetched:] == ["/B000000003.jpg"]  # a 404 is not transient: no retry


def test_a_server_that_is_not_allow_listed_is_refused(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], image_server: ImageServer
) -> None:
    code, _, stderr = run_import(
        capsys, *_argv(src, tmp_path / "out", "--images", "download", "--allow-http", "127.0.0.1")
    )
    assert code == 2 and image_server.requests == []
    assert "item image unavailable: fetch_refused" in stderr and "no page view is left" in stderr


def test_bad_lines_and_unknown_items_are_counted(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (src / REVIEWS).open("a") as handle:
        handle.write(
            '{"user_id": "AEX", "parent_asin": "B000000001", "timestamp": 1600000000000\n'
        )  # cut off
        handle.write(
            json.dumps({"user_id": "AEX", "parent_asin": "B0NOTINMETA", "timestamp": 1600000000000}) + "\n"
        )
        handle.write(json.dumps({"user_id": "AEX", "parent_asin": "B000000001", "timestamp": "soon"}) + "\n")
    meta_lines = (src / META).read_text().splitlines()
    with (src / META).open("a") as handle:
        handle.write(meta_lines[0] + "\n")  # the same parent_asin again
        handle.write(json.dumps({"parent_asin": "B0NOIMAGE", "title": "x", "images": []}) + "\n")
    out = tmp_path / "out"
    code, stdout, _ = run_import(capsys, *_argv(src, out))
    assert code == 0, stdout
    n = len((src / REVIEWS).read_text().splitlines())
    skips = skipped(out)
    assert skips[(REVIEWS, None, "malformed JSON line")] == 1
    assert f"e.g. line {n - 2}: " in stdout
    assert skips[(REVIEWS, "parent_asin", f"item not in {META}")] == 1
    assert skips[(REVIEWS, "timestamp", "timestamp is not a number of ms")] == 1
    assert f"e.g. line {n}: 'soon'" in stdout
    assert skips[(META, "parent_asin", "duplicate parent_asin (the first record is kept)")] == 1
    assert skips[(META, "images", "has no product image")] == 1
    load_dataset(out)


def test_a_missing_meta_file_is_named(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (src / META).unlink()
    code, _, stderr = run_import(capsys, *_argv(src, tmp_path / "out"))
    assert code == 2 and f"{META}: file not found in {src}" in stderr

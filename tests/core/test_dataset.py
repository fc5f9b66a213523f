"""Each rule of docs/design.md, "Dataset contract", broken once, gives a DatasetError naming the file, column and rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from courier_core.dataset import DatasetError, load_dataset
from tests.core.dataset_files import write_dataset

REPO = Path(__file__).resolve().parents[2]


def run_check(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", "check", str(root), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_valid_dataset_loads_with_extra_columns_and_image_sources(valid_parts):
    root, items, events, oracle = valid_parts
    items.loc[2, "image"] = "https://example.invalid/c.jpg"  # URLs are never fetched
    dataset = load_dataset(write_dataset(root, items, events, oracle), image_check="full")
    assert list(dataset.items["price"]) == [1.0, 2.0, 3.0]
    assert len(dataset.events) == 6 and dataset.events["ts"].dtype == np.int64
    assert dataset.oracle is not None and len(dataset.oracle) == 6
    assert dataset.image_source("a") == str((root / "images" / "a.jpg").resolve())
    assert dataset.image_source("c") == "https://example.invalid/c.jpg"


def test_oracle_is_optional(valid_parts):
    root, items, events, _ = valid_parts
    assert load_dataset(write_dataset(root, items, events)).oracle is None


def expect_error(root: Path, file: str, column: str | None, words: str, image_check: str = "sample") -> str:
    with pytest.raises(DatasetError) as caught:
        load_dataset(root, image_check=image_check)
    assert caught.value.file == file
    assert caught.value.column == column
    message = str(caught.value)
    assert words in message
    return message


def test_missing_file(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items, events)
    (root / "events.parquet").unlink()
    expect_error(root, "events.parquet", None, "missing")


def test_missing_column(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items.drop(columns=["title"]), events)
    expect_error(root, "items.parquet", "title", "missing column")


def test_mistyped_timestamp(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items, events.assign(ts=events["ts"].astype(str)))
    expect_error(root, "events.parquet", "ts", "expected integer")


def test_mistyped_item_id(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items.assign(item_id=[1, 2, 3]), events)
    expect_error(root, "items.parquet", "item_id", "expected strings")


def test_null_values(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[3, "user_id"] = None
    write_dataset(root, items, events)
    message = expect_error(root, "events.parquet", "user_id", "null")
    assert "r2" in message  # the offending row is shown


def test_duplicate_item_ids(valid_parts):
    root, items, events, _ = valid_parts
    items.loc[2, "item_id"] = "b"
    write_dataset(root, items, events.assign(item_id=["a", "b", "b", "a", "a", "b"]))
    message = expect_error(root, "items.parquet", "item_id", "duplicate item ids")
    assert "green thing" in message and "blue thing" in message


def test_events_for_unknown_items(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[4, "item_id"] = "zzz"
    write_dataset(root, items, events)
    message = expect_error(root, "events.parquet", "item_id", "not in items.parquet")
    assert "zzz" in message


def test_request_spread_over_users(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[1, "user_id"] = "u2"
    write_dataset(root, items, events)
    message = expect_error(root, "events.parquet", "user_id", "spread over several user_id")
    assert "r1" in message


def test_request_spread_over_timestamps(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[3, "ts"] = 2001
    write_dataset(root, items, events)
    expect_error(root, "events.parquet", "ts", "spread over several ts")


def test_labels_other_than_zero_one(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[2, "clicked"] = 2
    write_dataset(root, items, events)
    expect_error(root, "events.parquet", "clicked", "labels must be 0 or 1")


def test_float_labels_are_mistyped(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items, events.assign(clicked=events["clicked"] * 1.0))
    expect_error(root, "events.parquet", "clicked", "expected integer")


def test_item_shown_twice_in_one_request(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[1, "item_id"] = "a"
    write_dataset(root, items, events)
    expect_error(root, "events.parquet", "item_id", "shown twice")


def test_missing_image_file_is_found_even_by_the_sample_check(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items, events)
    (root / "images" / "b.jpg").unlink()
    message = expect_error(root, "items.parquet", "image", "not found")
    assert "images/b.jpg" in message
    load_dataset(root, image_check="none")  # "none" does not look at images


def test_unreadable_image_file(valid_parts):
    root, items, events, _ = valid_parts
    write_dataset(root, items, events)
    (root / "images" / "c.jpg").write_bytes(b"this is not a jpeg")
    message = expect_error(root, "items.parquet", "image", "unreadable", image_check="full")
    assert "image_decode_error" in message and "images/c.jpg" in message


def test_oracle_probability_outside_unit_interval(valid_parts):
    root, items, events, oracle = valid_parts
    oracle.loc[0, "p_click"] = 1.5
    write_dataset(root, items, events, oracle)
    expect_error(root, "oracle.parquet", "p_click", "[0, 1]")


def test_oracle_rows_must_match_events(valid_parts):
    root, items, events, oracle = valid_parts
    write_dataset(root, items, events, oracle.iloc[:-1])
    expect_error(root, "oracle.parquet", "p_click", "no probability")


def test_check_cli_summarises_a_valid_dataset(valid_parts):
    root, items, events, oracle = valid_parts
    result = run_check(write_dataset(root, items, events, oracle), "--full")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "requests" in result.stdout and "oracle" in result.stdout


def test_check_cli_fails_with_the_precise_message(valid_parts):
    root, items, events, _ = valid_parts
    events.loc[5, "clicked"] = -1
    result = run_check(write_dataset(root, items, events))
    assert result.returncode == 1
    assert "events.parquet, column 'clicked'" in result.stdout and "labels must be 0 or 1" in result.stdout
    assert "r3" in result.stdout


def test_check_cli_reports_a_missing_directory(tmp_path):
    result = run_check(tmp_path / "nowhere")
    assert result.returncode == 1 and "does not exist" in result.stdout


def test_strings_from_object_columns_are_accepted(valid_parts):
    root, items, events, _ = valid_parts
    dataset = load_dataset(write_dataset(root, items.astype({"title": object}), events))
    assert isinstance(dataset.items["title"].iloc[0], str)
    assert pd.api.types.is_integer_dtype(dataset.events["clicked"])

"""The synthetic world: deterministic, valid, cold items only in test, honest oracle, unnamed factors
never leak into titles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from courier_core.dataset import load_dataset
from courier_core.timeline import build_requests, cold_items
from tests.fixtures.world import TINY_WORLD_SEED
from training.world import generate_world, preset
from training.world.factors import PATTERNS, TRIMS

REPO = Path(__file__).resolve().parents[2]


def read_world(path: Path) -> dict:
    return json.loads((path / "world.json").read_text())


def test_same_seed_gives_identical_files_and_another_seed_does_not(tiny_world, tmp_path):
    again = tmp_path / "again"
    generate_world(preset("tiny", seed=TINY_WORLD_SEED), again)
    for name in ("items", "events", "oracle"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tiny_world / f"{name}.parquet"), pd.read_parquet(again / f"{name}.parquet")
        )
    first = sorted((tiny_world / "images").iterdir())
    assert [p.name for p in first] == sorted(p.name for p in (again / "images").iterdir())
    assert all(p.read_bytes() == (again / "images" / p.name).read_bytes() for p in first)
    assert (tiny_world / "world.json").read_text() == (again / "world.json").read_text()

    other = tmp_path / "other"
    generate_world(preset("tiny", seed=TINY_WORLD_SEED + 1, users=5, items=40), other)
    world_a, world_b = read_world(tiny_world), read_world(other)
    assert world_a["taste_strength"] != world_b["taste_strength"]  # each world draws its own strengths


def test_world_is_a_valid_dataset_with_real_jpegs(tiny_world):
    dataset = load_dataset(tiny_world, image_check="full")
    config = read_world(tiny_world)["config"]
    assert len(dataset.items) == config["items"]
    with Image.open(dataset.image_source(dataset.items["item_id"].iloc[0])) as image:
        assert image.format == "JPEG" and image.size == (config["image_size"],) * 2
    pages = dataset.events.groupby("request_id").size()
    assert (pages == config["page_size"]).all()


def test_cold_items_appear_only_in_the_test_period(tiny_world):
    dataset = load_dataset(tiny_world, image_check="none")
    world = read_world(tiny_world)
    requests = build_requests(dataset.events, train_fraction=world["config"]["train_fraction"])
    declared_cold = {item["item_id"] for item in world["items"] if item["cold"]}
    train_items = {item for page in requests.loc[requests["is_train"], "item_ids"] for item in page}
    assert declared_cold and not declared_cold & train_items
    found_cold = cold_items(requests)
    assert found_cold and found_cold <= declared_cold
    assert len(found_cold) >= 0.5 * len(declared_cold)  # most cold items are actually shown in test


def test_clicks_follow_the_oracle_probabilities(tiny_world):
    dataset = load_dataset(tiny_world, image_check="none")
    joined = dataset.events.merge(dataset.oracle, on=["request_id", "item_id"])
    p = joined["p_click"].to_numpy()
    clicks = joined["clicked"].to_numpy()
    assert len(joined) == len(dataset.events)
    assert abs(clicks.sum() - p.sum()) <= 4 * np.sqrt((p * (1 - p)).sum())
    # the probabilities are informative: clicked impressions had a higher p_click
    assert p[clicks == 1].mean() > p[clicks == 0].mean() + 0.05


def test_titles_name_category_and_colour_but_never_an_unnamed_factor(tiny_world):
    world = read_world(tiny_world)
    titles = pd.read_parquet(tiny_world / "items.parquet").set_index("item_id")["title"]
    forbidden = set(PATTERNS) | set(TRIMS)
    for item in world["items"]:
        words = set(titles[item["item_id"]].lower().split())
        assert not words & forbidden, titles[item["item_id"]]
        assert item["category"] in words and item["colour"] in words
    assert set(world["factors"]["unnamed"]) == {"pattern", "trim"}


def test_world_cli_refuses_to_overwrite_and_check_cli_accepts(tiny_world, tmp_path):
    refused = subprocess.run(
        [sys.executable, "-m", "training", "world", "--preset", "tiny", "--out", str(tiny_world)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "not empty" in refused.stdout
    checked = subprocess.run(
        [sys.executable, "-m", "training", "check", str(tiny_world)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "cold items" in checked.stdout and "OK" in checked.stdout

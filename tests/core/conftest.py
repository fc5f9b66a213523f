"""A minimal valid dataset directory with real JPEGs, rebuilt per test so each test can break it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.core.dataset_files import jpeg_bytes


@pytest.fixture
def valid_parts(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(root, items, events, oracle) of a valid three-item, three-request dataset; images already written."""
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for name, colour in (("a", (200, 20, 20)), ("b", (20, 200, 20)), ("c", (20, 20, 200))):
        (root / "images" / f"{name}.jpg").write_bytes(jpeg_bytes(colour))
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "image": ["images/a.jpg", "images/b.jpg", "images/c.jpg"],
            "title": ["red thing", "green thing", "blue thing"],
            "category": ["x", "x", "y"],
            "price": [1.0, 2.0, 3.0],  # an extra column, kept
        }
    )
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u1", "u2", "u2"],
            "request_id": ["r1", "r1", "r2", "r2", "r3", "r3"],
            "item_id": ["a", "b", "b", "c", "a", "c"],
            "clicked": [1, 0, 0, 1, 0, 0],
            "ts": [1000, 1000, 2000, 2000, 1500, 1500],
        }
    )
    oracle = events[["request_id", "item_id"]].assign(p_click=[0.5, 0.2, 0.1, 0.7, 0.3, 0.3])
    return root, items, events, oracle

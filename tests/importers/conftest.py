"""Source layouts written fresh per test (each test may break its copy) and a local image server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.importers.layouts import write_hm
from tests.importers.server import ImageServer


@pytest.fixture
def hm_src(tmp_path: Path) -> Path:
    return write_hm(tmp_path / "hm")


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.close()

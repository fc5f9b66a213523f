"""Fault-injection tests. Those marked `soak` (long fuzz runs, long overloads) are skipped unless asked
for with `-m soak`; the rest run in `make test`. Each fault test prints one `FAULT name key=value ...`
line with its figures (run with `-s` to see them; docs/reliability.md quotes them)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long fault-injection runs, only with `-m soak`")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="long run: select it with -m soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)

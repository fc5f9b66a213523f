"""Shared fixtures are plugins in tests/fixtures/; each area keeps its own conftest.py beside its tests."""

pytest_plugins: list[str] = [
    "tests.fixtures.models",
    "tests.fixtures.redis",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.world",
    "tests.fixtures.runs",
    "tests.fixtures.exported",
]

"""Settings are validated at start-up with messages that name the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_settings_read_courier_env_and_plain_redis_url(monkeypatch) -> None:
    monkeypatch.setenv("COURIER_MODEL_REPOSITORY", "/models")
    monkeypatch.setenv("COURIER_MODEL_NAME", "demo")
    monkeypatch.setenv("COURIER_API_KEYS", "a, b")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    settings = Settings()
    assert (settings.model_name, settings.api_keys, settings.redis_url) == (
        "demo",
        ["a", "b"],
        "redis://cache:6379/0",
    )
    assert (settings.max_batch_size, settings.buckets, settings.max_queue_items) == (
        32,
        [1, 2, 4, 8, 16, 32],
        256,
    )


def test_inconsistent_settings_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("COURIER_MODEL_REPOSITORY", "/models")
    monkeypatch.setenv("COURIER_MAX_BATCH_SIZE", "64")
    with pytest.raises(ValidationError, match="COURIER_MAX_BATCH_SIZE=64"):
        Settings()

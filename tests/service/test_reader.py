"""`RedisEmbeddingReader` against a real redis-server: one MGET and a byte cast, wrong lengths are misses."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from courier_core.cache_keys import current_version_key, embedding_key, vector_to_bytes
from service.reader import RedisEmbeddingReader


def test_reader_reads_the_current_version_and_skips_wrong_lengths(redis_server) -> None:
    client = redis.Redis.from_url(redis_server.url)
    vector = np.linspace(-1, 1, 16, dtype=np.float32)
    client.set(embedding_key("v-reader", "ok"), vector_to_bytes(vector))
    client.set(embedding_key("v-reader", "short"), b"\x00" * 12)
    client.set(current_version_key("reader-model"), "v-reader")
    reader = RedisEmbeddingReader(redis_server.url, model_name="reader-model", dim=16)
    try:
        found = reader.get_many(["ok", "short", "absent"])
        pinned = reader.get_many(["ok"], version="v-other")
    finally:
        reader.close()
        client.delete(current_version_key("reader-model"))
    assert list(found) == ["ok"]
    np.testing.assert_array_equal(found["ok"], vector)
    assert pinned == {}
    with pytest.raises(LookupError, match="current"):
        RedisEmbeddingReader(redis_server.url, model_name="unset-model", dim=16).get_many(["ok"])

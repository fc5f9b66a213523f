"""Redis killed and frozen under load, on a real redis-server and a real service process.

Look-ups cannot be answered without the cache, and before they answered 200 with every id `missing` (or
404), which a ranker cannot tell from "not cached". Now they answer 503 `cache_unavailable` with
Retry-After while the cache is unreachable; /embed keeps computing (200, uncached) and /readyz says
"degraded". No request may be lost, and look-ups must come back within a few reconnect intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.redis import RedisServer, free_port
from harness.service import ServiceProcess, start_service
from tests.reliability.load import Load, Result, between, fault_line, tally

CACHED = [f"warm-{k}" for k in range(8)]
RETRY_INTERVAL_S = 0.2


@pytest.fixture(scope="module")
def redis_alone() -> Iterator[RedisServer]:
    """This module's own redis-server: its tests kill and freeze it."""
    server = RedisServer(free_port())
    server.start()
    yield server
    server.thaw()
    server.kill()


@pytest.fixture(scope="module")
def service(
    onnx_model_repo: ModelRepo, redis_alone: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    settings = {
        "COURIER_MODEL_REPOSITORY": onnx_model_repo.root,
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "REDIS_URL": redis_alone.url,
        "COURIER_DECODE_WORKERS": 1,
        "COURIER_CACHE_RETRY_INTERVAL_S": RETRY_INTERVAL_S,
    }
    server = start_service(settings, tmp_path_factory.mktemp("redis-outage") / "service.log")
    yield server
    server.stop()


def warm(service: ServiceProcess) -> None:
    body = {"items": [item(i, image_bytes(seed=k)) for k, i in enumerate(CACHED)]}
    assert service.http.post("/embed", json=body).status_code == 200


def lookups_and_embeds(thread: int, number: int) -> tuple[str, str, dict]:
    """Threads 0 and 1 look the cached ids up; thread 2 embeds a new image each time."""
    if thread < 2:
        return "POST", "/embeddings:lookup", {"item_ids": CACHED}
    return "POST", "/embed", {"items": [item(f"new-{number}", image_bytes(seed=1000 + number))]}


def outage(
    service: ServiceProcess, inject: Callable[[], None], recover: Callable[[], None], name: str
) -> tuple[list[Result], float, float, float]:
    """Load for 1.5 s, `inject`, 2 s of outage, `recover`, load until look-ups answer 200 again (≤ 10 s).
    Returns the results, the outage's start and end, and the seconds from Redis answering again to the
    first look-up answered 200."""
    warm(service)
    load = Load(service.url, lookups_and_embeds, threads=3, timeout_s=10).start()
    time.sleep(1.5)
    down = time.monotonic()
    inject()
    time.sleep(2.0)
    readiness = service.http.get("/readyz").json()
    up = time.monotonic()
    recover()
    back = time.monotonic()  # Redis answers again from here
    deadline = back + 10
    recovered = None
    while recovered is None and time.monotonic() < deadline:
        time.sleep(0.05)
        recovered = next(
            (
                r.started
                for r in between(load.results, up, time.monotonic())
                if r.status == 200 and _lookup(r)
            ),
            None,
        )
    time.sleep(0.5)
    results = load.stop()
    assert readiness["status"] == "degraded" and readiness["cache"]["available"] is False
    assert recovered is not None, (
        f"look-ups did not recover within 10 s: {tally(between(results, up, deadline))}"
    )
    outage_results = between(results, down + 0.5, up)  # the first 0.5 s: requests sent before it showed
    lookups = [r for r in outage_results if _lookup(r)]
    embeds = [r for r in outage_results if not _lookup(r)]
    print(
        "\n"
        + fault_line(
            name,
            **tally(results),
            outage_lookups=len(lookups),
            outage_lookups_503=sum(r.code == "cache_unavailable" for r in lookups),
            outage_embeds=len(embeds),
            outage_embeds_200=sum(r.status == 200 for r in embeds),
            recovery_s=round(recovered - back, 2),
        )
    )
    return results, down, up, recovered - back


def _lookup(result: Result) -> bool:
    return result.path == "/embeddings:lookup"


def check(results: list[Result], down: float, up: float) -> None:
    summary = tally(results)
    assert summary["lost"] == 0 and summary["refused_connections"] == 0, summary
    assert set(summary) <= {"sent", "lost", "refused_connections", "200", "503"}, summary
    during = between(results, down + 0.5, up)
    lookups = [r for r in during if _lookup(r)]
    embeds = [r for r in during if not _lookup(r)]
    assert lookups and all(r.status == 503 and r.code == "cache_unavailable" for r in lookups)
    assert all(r.retry_after is not None for r in lookups)
    assert embeds and all(r.status == 200 for r in embeds)  # a dead Redis degrades, never fails /embed
    before = [r for r in results if r.started + r.latency_s < down]  # answered before the fault
    assert all(r.status == 200 for r in before), [r for r in before if r.status != 200][:3]


def test_redis_killed_under_load(service: ServiceProcess, redis_alone: RedisServer) -> None:
    results, down, up, recovered = outage(service, redis_alone.kill, redis_alone.start, "redis_sigkill")
    check(results, down, up)
    assert recovered - up < 5 * RETRY_INTERVAL_S + 1.0
    missing = service.http.post("/embeddings:lookup", json={"item_ids": CACHED}).json()["missing"]
    assert missing == CACHED  # a fresh server: genuinely not cached, and now said so with a 200


def test_redis_frozen_under_load(service: ServiceProcess, redis_alone: RedisServer) -> None:
    results, down, up, recovery_s = outage(service, redis_alone.freeze, redis_alone.thaw, "redis_sigstop")
    check(results, down, up)
    assert recovery_s < 5 * RETRY_INTERVAL_S
    found = service.http.post("/embeddings:lookup", json={"item_ids": CACHED}).json()
    assert found["missing"] == [] and len(found["data"]) == len(CACHED)  # the thawed server kept them


def test_get_one_embedding_is_503_not_404_while_redis_is_down(
    service: ServiceProcess, redis_alone: RedisServer
) -> None:
    warm(service)
    redis_alone.kill()
    try:
        response = service.http.get(f"/embeddings/{CACHED[0]}")
    finally:
        redis_alone.start()
    assert response.status_code == 503 and response.json()["error"]["code"] == "cache_unavailable"
    assert "not a miss" in response.json()["error"]["message"]
    assert float(response.headers["retry-after"]) >= 1

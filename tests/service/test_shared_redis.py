"""Standalone Redis as rankers and replicas see it: docs/redis-contract.md holds with nothing but
`redis-cli`, and two service processes share one Redis (the cluster twins are in tests/cluster)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.models import ModelRepo
from harness.redis import RedisServer
from harness.service import ServiceProcess, start_service
from tests.service.redis_checks import check_redis_cli_read, check_replicas_share


@pytest.fixture(scope="module")
def replicas(
    onnx_model_repo: ModelRepo, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two real `python -m service` processes behind the session's redis-server."""
    settings = {
        "COURIER_MODEL_REPOSITORY": str(onnx_model_repo.root),
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "REDIS_URL": redis_server.url,
        "COURIER_DECODE_WORKERS": 1,
    }
    logs = tmp_path_factory.mktemp("replicas")
    first = start_service(settings, logs / "first.log")
    try:
        second = start_service(settings, logs / "second.log")
    except Exception:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def test_redis_cli_alone_reads_the_vector_the_service_answered(replicas, redis_server) -> None:
    check_redis_cli_read(replicas[0], redis_server.port, cluster=False)


def test_two_replicas_share_one_redis(replicas) -> None:
    check_replicas_share(*replicas)

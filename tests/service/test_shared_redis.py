"""Standalone Redis as rankers and replicas see it: docs/redis-contract.md holds with nothing but
`redis-cli`, and two service processes share one Redis (the cluster twins are in tests/cluster)."""

from __future__ import annotations

from tests.fixtures.shared_redis import check_redis_cli_read, check_replicas_share
from tests.service.helpers import start_service


def test_redis_cli_alone_reads_the_vector_the_service_answered(service, redis_server) -> None:
    check_redis_cli_read(service, redis_server.port, cluster=False)


def test_two_replicas_share_one_redis(service, onnx_model_repo, redis_server, tmp_path) -> None:
    settings = {
        "COURIER_MODEL_REPOSITORY": str(onnx_model_repo.root),
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "REDIS_URL": redis_server.url,
        "COURIER_DECODE_WORKERS": 1,
    }
    other = start_service(settings, tmp_path / "replica.log")
    try:
        check_replicas_share(service, other)
    finally:
        other.stop()

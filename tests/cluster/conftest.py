"""A Redis-Cluster-backed service process shared by this package's tests (the cluster is the session's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from harness.models import ModelRepo
from harness.redis_cluster import RedisClusterServer
from harness.service import ServiceProcess, start_service


def cluster_settings(repo: ModelRepo, cluster: RedisClusterServer) -> dict[str, str | float | int]:
    return {
        "COURIER_MODEL_REPOSITORY": str(repo.root),
        "COURIER_MODEL_NAME": repo.name,
        "REDIS_URL": cluster.url,
        "COURIER_REDIS_MODE": "cluster",
        "COURIER_CACHE_RETRY_INTERVAL_S": 0.2,
        "COURIER_DECODE_WORKERS": 1,
    }


@pytest.fixture(scope="package")
def cluster_service(
    onnx_model_repo: ModelRepo,
    redis_cluster_server: RedisClusterServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess]:
    redis_cluster_server.reset()
    server = start_service(
        cluster_settings(onnx_model_repo, redis_cluster_server),
        tmp_path_factory.mktemp("cluster-svc") / "service.log",
    )
    yield server
    server.stop()


@pytest.fixture
def cluster_client(redis_cluster: RedisClusterServer) -> Iterator[redis.RedisCluster]:
    """A redis-py cluster client on the emptied cluster, for checking what the code under test wrote."""
    client = redis.RedisCluster.from_url(redis_cluster.url)
    yield client
    client.close()

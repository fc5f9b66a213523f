"""Which Redis Cluster primaries are down, and when they serve again: the cluster cache's circuit breaker.

A node marked down is skipped (its keys are misses) until a background task, every `interval_s`, finds
that its slots moved to another node (a failover) or that it reports `cluster_state:ok` again (a restarted
primary answers PING but refuses keys with CLUSTERDOWN until it has rejoined).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

log = logging.getLogger(__name__)


class NodeHealth:
    def __init__(
        self, client: RedisCluster, refresh: Callable[[], Awaitable[bool]], interval_s: float
    ) -> None:
        self._client = client
        self._refresh = refresh  # reads the slot map again; True once one is known
        self._interval_s = interval_s
        self._down: dict[str, float] = {}  # node name -> when it failed
        self._task: asyncio.Task[None] | None = None

    def is_down(self, name: str) -> bool:
        return name in self._down

    @property
    def any_down(self) -> bool:
        return bool(self._down)

    def mark_down(self, node: ClusterNode | None) -> None:
        """Skip `node` until it serves again (None: no slot map yet); starts the watch when idle."""
        if node is not None:
            self._down.setdefault(node.name, time.monotonic())
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            if not await self._refresh():
                continue
            primaries = {node.name: node for node in self._client.get_primaries()}
            for name in list(self._down):
                node = primaries.get(name)
                if node is None or await self._serves(node):
                    del self._down[name]
                    log.warning("Redis Cluster node %s serves again (or no longer owns slots)", name)
            if not self._down:
                return

    async def _serves(self, node: ClusterNode) -> bool:
        try:
            info = await self._client.execute_command("CLUSTER INFO", target_nodes=node)
        except (RedisError, RedisClusterException, OSError):
            return False
        return isinstance(info, dict) and info.get("cluster_state") == "ok"

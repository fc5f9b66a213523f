"""What the routes share: the loaded parts, readiness and the drain flag (one per process)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from service import metrics
from service.cache.base import EmbeddingCache
from service.runtime.admission import Admission
from service.runtime.batcher import Batcher
from service.runtime.engine import OnnxEngine
from service.runtime.pipeline import EmbedPipeline
from service.settings import Settings

CURRENT_VERSION_TTL_S = 1.0


@dataclass
class ServiceState:
    settings: Settings
    engine: OnnxEngine | None = None
    cache: EmbeddingCache | None = None
    batcher: Batcher | None = None
    admission: Admission | None = None
    pipeline: EmbedPipeline | None = None
    warmed_up: bool = False
    draining: bool = False
    active_requests: int = 0
    _current: tuple[str, float] | None = field(default=None, repr=False)

    def checks(self) -> dict[str, bool]:
        batcher = self.batcher
        return {
            "model_loaded": self.engine is not None,
            "warmed_up": self.warmed_up,
            "batch_worker_alive": batcher is not None and batcher.alive,
            "batches_ok": batcher is not None and batcher.healthy,
            "not_draining": not self.draining,
        }

    @property
    def ready(self) -> bool:
        ready = all(self.checks().values())
        metrics.READY.set(1 if ready else 0)
        return ready

    def model_info(self, version: str | None = None, dim: int | None = None) -> dict[str, Any]:
        assert self.engine is not None
        manifest = self.engine.manifest
        if version is None or version == manifest.version:
            return {"name": manifest.name, "version": manifest.version, "dim": manifest.dim}
        return {"name": manifest.name, "version": version, "dim": dim}

    async def reader_version(self) -> str:
        """`courier:model:{name}:current` when set (memoised for a second), else the served version."""
        assert self.engine is not None and self.cache is not None
        now = time.monotonic()
        if self._current is not None and now - self._current[1] < CURRENT_VERSION_TTL_S:
            return self._current[0]
        version = await self.cache.get_current_version(self.engine.manifest.name) or self.engine.version
        self._current = (version, now)
        return version

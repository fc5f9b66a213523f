"""Move `courier:model:{name}:current` to a version only once every catalogue item has a vector for it.

Rankers read the version named by the current key; switching before the catalogue is complete would turn
cached hits into misses. The check covers the whole catalogue (all shards), so every shard of an
Indexed Job can run with --promote: the one that finishes last finds it complete and moves the key;
the others report what is still missing and leave it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from service.cache import EmbeddingCache

PROMOTE_CHECK_CHUNK = 5000
_SHOWN = 10


@dataclass
class PromoteResult:
    promoted: bool
    version: str
    previous: str | None
    missing: int = 0
    first_missing: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.promoted and self.previous == self.version:
            return f"current version already {self.version!r}"
        if self.promoted:
            return f"current version moved {self.previous!r} -> {self.version!r}"
        return (
            f"current version left at {self.previous!r}: {self.missing} catalogue item(s) have no vector for "
            f"{self.version!r} yet (first: {', '.join(self.first_missing)})"
        )


async def missing_items(
    cache: EmbeddingCache, version: str, item_ids: Sequence[str], chunk: int = PROMOTE_CHECK_CHUNK
) -> list[str]:
    """Ids without a key for `version`, checked with one pipelined EXISTS round trip per chunk."""
    missing: list[str] = []
    for start in range(0, len(item_ids), chunk):
        ids = item_ids[start : start + chunk]
        present = await cache.exists_many(version, ids)
        missing.extend(i for i in ids if i not in present)
    return missing


async def promote_if_complete(
    cache: EmbeddingCache, name: str, version: str, item_ids: Sequence[str]
) -> PromoteResult:
    previous = await cache.get_current_version(name)
    missing = await missing_items(cache, version, item_ids)
    if missing:
        return PromoteResult(False, version, previous, len(missing), missing[:_SHOWN])
    if previous != version:
        await cache.set_current_version(name, version)
    return PromoteResult(True, version, previous)

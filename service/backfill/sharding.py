"""Stable sharding of the catalogue by item id, so N processes or N Indexed Job pods cover it exactly once.

Python's `hash()` is salted per process; a shard must be the same function of the id on every machine and
every rerun, so it is the first 8 bytes of blake2b.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

# Indexed Jobs give each pod its index in this variable (Kubernetes >= 1.21).
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= index < count and count >= 1")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, item_id: str) -> bool:
        return self.count == 1 or shard_of(item_id, self.count) == self.index


def shard_of(item_id: str, count: int) -> int:
    """Shard of an item among `count`: first 8 bytes of blake2b(item_id), big-endian, modulo count."""
    digest = hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def parse_shard(spec: str | None, environ: Mapping[str, str] | None = None) -> Shard:
    """`I/N`, or `auto/N` taking I from JOB_COMPLETION_INDEX; None means the whole catalogue."""
    if spec is None:
        return Shard()
    environ = os.environ if environ is None else environ
    index_text, sep, count_text = spec.partition("/")
    if not sep:
        raise ValueError(f"--shard {spec!r}: expected I/N (e.g. 0/4) or auto/N")
    if index_text == "auto":
        index_text = environ.get(COMPLETION_INDEX_ENV, "")
        if not index_text:
            raise ValueError(f"--shard {spec}: 'auto' needs the {COMPLETION_INDEX_ENV} environment variable")
    try:
        return Shard(int(index_text), int(count_text))
    except ValueError as exc:
        raise ValueError(f"--shard {spec!r}: {exc}") from None

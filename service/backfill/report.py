"""Progress while a backfill runs (tqdm on a terminal, plain log lines otherwise) and its summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

from courier_core.errors import ItemError

FIRST_IDS_KEPT = 10


@dataclass
class FailureCount:
    count: int = 0
    first_item_ids: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """What a run did. `embedded` were run through the model and written; `skipped_cached` were present."""

    total: int
    embedded: int = 0
    skipped_cached: int = 0
    failed: dict[str, FailureCount] = field(default_factory=dict)
    wall_s: float = 0.0
    pipeline_s: float = 0.0
    interrupted: bool = False
    promoted: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_count(self) -> int:
        return sum(f.count for f in self.failed.values())

    @property
    def items_per_s(self) -> float:
        """Embedded items per second of the whole run (model load and finalising included)."""
        return self.embedded / self.wall_s if self.wall_s > 0 else 0.0

    def add_failures(self, failures: Mapping[str, ItemError]) -> None:
        """Count failed items by error code, keeping the first ids of each."""
        for item_id, error in failures.items():
            entry = self.failed.setdefault(str(error.code), FailureCount())
            entry.count += 1
            if len(entry.first_item_ids) < FIRST_IDS_KEPT:
                entry.first_item_ids.append(item_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "embedded": self.embedded,
            "skipped_cached": self.skipped_cached,
            "failed": {
                code: {"count": f.count, "first_item_ids": f.first_item_ids}
                for code, f in sorted(self.failed.items())
            },
            "wall_s": round(self.wall_s, 3),
            "items_per_s": round(self.items_per_s, 1),
            "pipeline_s": round(self.pipeline_s, 3),
            "total": self.total,
            "interrupted": self.interrupted,
            "promoted": self.promoted,
            **self.extra,
        }

    def text(self) -> str:
        lines = [
            f"backfill {'INTERRUPTED' if self.interrupted else 'done'}: {self.total} items in scope, "
            f"{self.embedded} embedded, {self.skipped_cached} already cached, {self.failed_count} failed "
            f"in {self.wall_s:.1f} s ({self.items_per_s:.1f} items/s embedded)"
        ]
        for code, f in sorted(self.failed.items()):
            lines.append(f"  failed {code}: {f.count} (first: {', '.join(f.first_item_ids)})")
        for key, value in self.extra.items():
            lines.append(f"  {key}: {value}")
        if self.promoted is not None:
            lines.append(f"  promoted: {self.promoted}")
        return "\n".join(lines)


class Progress:
    """Counts done items; a tqdm bar on a terminal, a log line every `log_every_s` otherwise."""

    def __init__(
        self, total: int, *, mode: str = "auto", log_every_s: float = 10.0, stream: TextIO | None = None
    ):
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.embedded = 0
        self._start = time.monotonic()
        self._last_log = self._start
        self._log_every_s = log_every_s
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "log"
        self.mode = mode
        self._bar = (
            tqdm(total=total, unit="item", desc="backfill", file=self.stream, smoothing=0.1)
            if mode == "bar"
            else None
        )

    def update(self, done: int, embedded: int, failed: int) -> None:
        self.done += done
        self.embedded += embedded
        if self._bar is not None:
            self._bar.set_postfix(embedded=self.embedded, failed=failed, refresh=False)
            self._bar.update(done)
            return
        now = time.monotonic()
        if self.mode == "log" and now - self._last_log >= self._log_every_s:
            self._last_log = now
            self.stream.write(self.line(failed, now) + "\n")
            self.stream.flush()

    def line(self, failed: int, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta_text = f"{eta:.0f} s" if eta != float("inf") else "?"
        return (
            f"backfill: {self.done}/{self.total} items ({percent:.1f}%), {rate:.1f} items/s, ETA {eta_text}, "
            f"{self.embedded} embedded, {failed} failed"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

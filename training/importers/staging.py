"""Spill validated interactions into hash buckets on disk, so page views are built one bucket at a time.

Page views need every row of a user (or of a request) together, and a log does not arrive grouped. Each
row goes to bucket hash(key) % n, so one bucket holds all rows of its users (requests) and fits in memory
however big the log. Item popularity per week, which the negative sampler needs across all buckets, is
counted on the way through.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DAY_MS = 86_400_000
BUCKET_INPUT_BYTES = 32 << 20  # about one bucket per 32 MiB of input (a few hundred MB of memory)
MAX_BUCKETS = 512  # open files while staging; past 16 GiB of input the buckets grow instead
FLUSH_ROWS = 8192
STAGED_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("request_id", pa.string()),  # null when page views come from time windows
        ("item", pa.int32()),  # catalogue code
        ("clicked", pa.int8()),
        ("ts", pa.int64()),
        ("row", pa.int64()),  # the source row, for examples in skip reports
    ]
)


def week_of(ts_ms: np.ndarray) -> np.ndarray:
    """Monday-based week number since the epoch (1970-01-01 was a Thursday)."""
    return (ts_ms // DAY_MS + 3) // 7


def bucket_count(input_bytes: int, bucket_bytes: int = BUCKET_INPUT_BYTES) -> int:
    return min(MAX_BUCKETS, max(1, math.ceil(input_bytes / bucket_bytes)))


class Staging:
    """Buckets of interaction rows under `directory`, keyed by `key` ("user_id" or "request_id").

    Rows wait in memory per bucket until `flush_rows` have gathered, so a bucket file gets a few large
    row groups rather than one tiny one per input chunk (whose footer metadata would fill memory).
    """

    def __init__(self, directory: Path, buckets: int, key: str, *, flush_rows: int = FLUSH_ROWS) -> None:
        if key not in ("user_id", "request_id"):
            raise ValueError(f"bucket key must be user_id or request_id, not {key!r}")
        directory.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.paths = [directory / f"bucket-{b:04d}.parquet" for b in range(buckets)]
        self._writers: list[pq.ParquetWriter | None] = [None] * buckets
        self._pending: list[list[pa.Table]] = [[] for _ in range(buckets)]
        self._flush_rows = flush_rows
        self._popularity: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, frame: pd.DataFrame) -> None:
        """Rows with user_id, item (code), ts, row and optionally request_id, clicked (default 1)."""
        if not len(frame):
            return
        frame = frame.assign(
            request_id=frame.get("request_id"),
            clicked=frame["clicked"] if "clicked" in frame else np.int8(1),
        )
        clicks = frame["clicked"].to_numpy() == 1
        weeks = week_of(frame["ts"].to_numpy(dtype=np.int64)[clicks])
        self._count(np.left_shift(weeks, 32) | frame["item"].to_numpy(dtype=np.int64)[clicks])
        bucket = pd.util.hash_array(frame[self.key].to_numpy(dtype=object)) % np.uint64(len(self.paths))
        table = pa.Table.from_pandas(frame, schema=STAGED_SCHEMA, preserve_index=False)
        for b in np.unique(bucket):
            self._pending[b].append(table.filter(pa.array(bucket == b)))
            if sum(t.num_rows for t in self._pending[b]) >= self._flush_rows:
                self._flush(int(b))

    def _flush(self, b: int) -> None:
        if not self._pending[b]:
            return
        writer = self._writers[b]
        if writer is None:
            writer = self._writers[b] = pq.ParquetWriter(self.paths[b], STAGED_SCHEMA)
        writer.write_table(pa.concat_tables(self._pending[b]))
        self._pending[b] = []

    def _count(self, keys: np.ndarray) -> None:
        self._popularity.append(np.unique(keys, return_counts=True))
        if len(self._popularity) >= 64:
            self._popularity = [self._summed()]

    def _summed(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.concatenate([k for k, _ in self._popularity] or [np.zeros(0, np.int64)])
        counts = np.concatenate([c for _, c in self._popularity] or [np.zeros(0, np.int64)])
        unique, inverse = np.unique(keys, return_inverse=True)
        return unique, np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)

    def close(self) -> None:
        for b in range(len(self._writers)):
            self._flush(b)
            writer = self._writers[b]
            if writer is not None:
                writer.close()

    def buckets(self) -> list[tuple[int, Path]]:
        """(bucket number, file) of the buckets that received rows."""
        return [(b, path) for b, path in enumerate(self.paths) if self._writers[b] is not None]

    def read(self, path: Path) -> pd.DataFrame:
        return pq.read_table(path).to_pandas()

    def popularity(self) -> pd.DataFrame:
        """Clicks per (week, item) over every staged row: columns week, item, count."""
        keys, counts = self._summed()
        return pd.DataFrame({"week": keys >> 32, "item": keys & 0xFFFFFFFF, "count": counts})

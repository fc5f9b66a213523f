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
BUCKET_INPUT_BYTES = 512 << 20  # about one bucket per 512 MiB of input
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
    return max(1, math.ceil(input_bytes / bucket_bytes))


class Staging:
    """Buckets of interaction rows under `directory`, keyed by `key` ("user_id" or "request_id")."""

    def __init__(self, directory: Path, buckets: int, key: str) -> None:
        if key not in ("user_id", "request_id"):
            raise ValueError(f"bucket key must be user_id or request_id, not {key!r}")
        directory.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.paths = [directory / f"bucket-{b:04d}.parquet" for b in range(buckets)]
        self._writers: list[pq.ParquetWriter | None] = [None] * buckets
        self._popularity: list[pd.Series] = []
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        """Rows with user_id, item (code), ts, row and optionally request_id, clicked (default 1)."""
        if not len(frame):
            return
        frame = frame.assign(
            request_id=frame.get("request_id"),
            clicked=frame["clicked"] if "clicked" in frame else np.int8(1),
        )
        clicks = frame[frame["clicked"].to_numpy() == 1]
        weeks = week_of(clicks["ts"].to_numpy(dtype=np.int64))
        self._popularity.append(
            pd.Series(1, index=pd.MultiIndex.from_arrays([weeks, clicks["item"].to_numpy()]))
        )
        if len(self._popularity) >= 64:
            self._popularity = [self._summed()]
        bucket = pd.util.hash_array(frame[self.key].to_numpy(dtype=object)) % np.uint64(len(self.paths))
        for b in np.unique(bucket):
            part = pa.Table.from_pandas(frame[bucket == b], schema=STAGED_SCHEMA, preserve_index=False)
            writer = self._writers[b]
            if writer is None:
                writer = self._writers[b] = pq.ParquetWriter(self.paths[b], STAGED_SCHEMA)
            writer.write_table(part)
        self.rows += len(frame)

    def close(self) -> None:
        for writer in self._writers:
            if writer is not None:
                writer.close()

    def buckets(self) -> list[tuple[int, Path]]:
        """(bucket number, file) of the buckets that received rows."""
        return [(b, path) for b, path in enumerate(self.paths) if self._writers[b] is not None]

    def read(self, path: Path) -> pd.DataFrame:
        return pq.read_table(path).to_pandas()

    def popularity(self) -> pd.DataFrame:
        """Clicks per (week, item) over every staged row: columns week, item, count."""
        summed = self._summed()
        return pd.DataFrame(
            {
                "week": summed.index.get_level_values(0).to_numpy(dtype=np.int64),
                "item": summed.index.get_level_values(1).to_numpy(dtype=np.int64),
                "count": summed.to_numpy(dtype=np.int64),
            }
        )

    def _summed(self) -> pd.Series:
        if not self._popularity:
            return pd.Series([], index=pd.MultiIndex.from_arrays([[], []]), dtype=np.int64)
        return pd.concat(self._popularity).groupby(level=[0, 1]).sum()

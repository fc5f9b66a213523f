"""Parquet output written in parts and finalised atomically, so a killed backfill resumes without
duplicates and a reader never sees a truncated file.

Each completed chunk becomes one file in `<out>.parts/` (written to a temporary name, then renamed: a part
exists whole or not at all). The ids in the parts are what a rerun skips. `finalise` concatenates the parts
into `<out>` with one atomic rename (courier_core.embeddings_file) and only then removes the parts.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from courier_core.embeddings_file import EmbeddingsFileError, embeddings_table, write_embeddings, write_tables

STATE_FILE = "state.json"
_PART_GLOB = "part-*.parquet"


class PartsError(RuntimeError):
    """The parts directory belongs to another model version or holds inconsistent parts."""


class PartsWriter:
    def __init__(self, out: str | Path, identity: dict[str, Any], *, fresh: bool = False) -> None:
        """`identity` (model name, version, shard) must match the one an interrupted run left behind."""
        self.out = Path(out)
        self.dir = self.out.with_name(self.out.name + ".parts")
        self.identity = identity
        self._run = uuid.uuid4().hex[:8]
        self._seq = 0
        if fresh and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        state = self.dir / STATE_FILE
        if state.is_file():
            previous = json.loads(state.read_text())
            if previous != identity:
                raise PartsError(
                    f"{self.dir} holds parts of another backfill ({previous}), this one is {identity}; "
                    f"remove it or pass --overwrite to start over"
                )
        else:
            tmp = self.dir / f".{STATE_FILE}.tmp"
            tmp.write_text(json.dumps(identity, sort_keys=True))
            tmp.replace(state)

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob(_PART_GLOB))

    def completed_ids(self) -> set[str]:
        """Item ids already in a completed part."""
        done: set[str] = set()
        for part in self.parts():
            done.update(pq.read_table(part, columns=["item_id"]).column("item_id").to_pylist())
        return done

    def write_part(self, item_ids: Sequence[str], matrix: np.ndarray) -> Path | None:
        if not len(item_ids):
            return None
        self._seq += 1
        path = self.dir / f"part-{self._run}-{self._seq:06d}.parquet"
        write_embeddings(path, item_ids, matrix)
        return path

    def finalise(self, metadata: dict[str, Any]) -> int:
        """Write `<out>` from all parts atomically, then drop the parts; returns the number of rows."""
        tables = [pq.read_table(part) for part in self.parts()]
        if not tables:
            tables = [embeddings_table([], np.zeros((0, int(metadata.get("dim", 1))), dtype=np.float32))]
        ids = [i for table in tables for i in table.column("item_id").to_pylist()]
        if len(set(ids)) != len(ids):
            raise EmbeddingsFileError(
                f"{self.dir}: parts hold duplicate item ids; remove the directory and rerun"
            )
        write_tables(self.out, tables, metadata)
        shutil.rmtree(self.dir)
        return len(ids)

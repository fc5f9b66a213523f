"""Parquet output written in parts and finalised atomically, so a killed backfill resumes without
duplicates and a reader never sees a truncated file.

Each completed chunk becomes one file in `<out>.parts/` (written to a temporary name, then renamed: a part
exists whole or not at all). A rerun never writes an id that a part holds into another part (and, without
Redis, does not embed it again). `finalise` concatenates the parts into `<out>` with one atomic rename
(courier_core.embeddings_file) and only then removes the parts; a later run of the same version and shard
starts from that file, so a grown catalogue costs only its new items.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from courier_core.embeddings_file import (
    METADATA_KEY,
    EmbeddingsFileError,
    embeddings_table,
    write_embeddings,
    write_tables,
)

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
            if not fresh:
                self._seed_from_output()
            tmp = self.dir / f".{STATE_FILE}.tmp"
            tmp.write_text(json.dumps(identity, sort_keys=True))
            tmp.replace(state)

    def _seed_from_output(self) -> None:
        """A finished `<out>` of the same model version and shard becomes the first part, so a run over a
        grown catalogue embeds only the new items."""
        if not self.out.is_file():
            return
        try:
            metadata = read_embeddings_metadata(self.out)
        except EmbeddingsFileError:
            return
        model = metadata.get("model", {})
        previous = {
            "name": model.get("name"),
            "version": model.get("version"),
            "shard": metadata.get("shard"),
        }
        if previous == self.identity:
            tmp = self.dir / ".part-seed.tmp"
            shutil.copyfile(self.out, tmp)
            tmp.replace(self.dir / "part-00000000-000000.parquet")

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
            dim = int(metadata.get("model", {}).get("dim", 1))
            tables = [embeddings_table([], np.zeros((0, dim), dtype=np.float32))]
        table = pa.concat_tables(tables)
        # Two runs of one shard at once (or a retried Ray task) can write an id twice; for one version
        # the vectors are the same, so the first copy is kept.
        ids = table.column("item_id").to_pylist()
        first = {item_id: row for row, item_id in reversed(list(enumerate(ids)))}
        if len(first) != len(ids):
            table = table.take(pa.array(sorted(first.values()), type=pa.int64()))
        write_tables(self.out, [table], metadata)
        shutil.rmtree(self.dir)
        return table.num_rows


def read_embeddings_metadata(path: Path) -> dict[str, Any]:
    """The courier metadata of an embeddings parquet file, without reading its rows."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    except (OSError, ValueError) as exc:
        raise EmbeddingsFileError(f"{path} is not a readable parquet file: {exc}") from None
    return json.loads(raw) if raw else {}

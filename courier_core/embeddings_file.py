"""The embeddings parquet every evaluation reads: `item_id` (string) + `embedding` (fixed-size list of
float32). Any source (training run, backfill, third party) writes this one format."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"courier"


class EmbeddingsFileError(ValueError):
    """An embeddings file that evaluation cannot use, with what is wrong in the message."""


@dataclass
class Embeddings:
    item_ids: list[str]
    matrix: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


def embeddings_table(item_ids: Sequence[str], matrix: np.ndarray) -> pa.Table:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(item_ids):
        raise EmbeddingsFileError(f"matrix shape {matrix.shape} does not match {len(item_ids)} item ids")
    values = pa.array(matrix.reshape(-1), type=pa.float32())
    column = pa.FixedSizeListArray.from_arrays(values, matrix.shape[1])
    return pa.table({"item_id": pa.array(list(item_ids), type=pa.string()), "embedding": column})


def write_embeddings(
    path: str | Path, item_ids: Sequence[str], matrix: np.ndarray, metadata: dict[str, Any] | None = None
) -> None:
    """Write atomically (temporary file, then rename): a reader never sees a truncated file."""
    write_tables(path, [embeddings_table(item_ids, matrix)], metadata)


def write_tables(
    path: str | Path, tables: Iterable[pa.Table], metadata: dict[str, Any] | None = None
) -> None:
    """Concatenate embedding tables into one file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables(list(tables))
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata or {}).encode()})
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_embeddings(path: str | Path) -> Embeddings:
    path = Path(path)
    if not path.is_file():
        raise EmbeddingsFileError(f"embeddings file {path} does not exist")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EmbeddingsFileError(f"{path} is not a readable parquet file: {exc}") from None
    missing = {"item_id", "embedding"} - set(table.column_names)
    if missing:
        raise EmbeddingsFileError(f"{path}: missing column(s) {sorted(missing)}; expected item_id, embedding")
    item_ids = [str(x) for x in table.column("item_id").to_pylist()]
    vectors = table.column("embedding").to_pylist()
    dims = {len(v) if v is not None else 0 for v in vectors}
    if len(dims) > 1:
        first = {d: item_ids[[len(v or []) for v in vectors].index(d)] for d in sorted(dims)}
        raise EmbeddingsFileError(
            f"{path}: embeddings have mixed dims {sorted(dims)} (first item of each: {first})"
        )
    dim = dims.pop() if dims else 0
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(item_ids), dim)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    metadata = json.loads(raw) if raw else {}
    return Embeddings(item_ids, matrix, metadata)


def validate_embeddings(
    emb: Embeddings, required_item_ids: Iterable[str], source: str = "embeddings"
) -> None:
    """Every required item present once, one positive dim, finite values; else EmbeddingsFileError."""
    if emb.matrix.ndim != 2 or emb.dim == 0:
        raise EmbeddingsFileError(f"{source}: embeddings have no dimensions")
    seen: set[str] = set()
    dupes = [i for i in emb.item_ids if i in seen or seen.add(i)]
    if dupes:
        raise EmbeddingsFileError(f"{source}: duplicate item ids, first: {dupes[:5]}")
    missing = [i for i in required_item_ids if i not in seen]
    if missing:
        raise EmbeddingsFileError(
            f"{source}: {len(missing)} item(s) of the catalogue have no embedding, first: {missing[:5]}"
        )
    bad_rows = np.where(~np.isfinite(emb.matrix).all(axis=1))[0]
    if len(bad_rows):
        raise EmbeddingsFileError(
            f"{source}: {len(bad_rows)} embedding(s) hold NaN or inf, first: {[emb.item_ids[i] for i in bad_rows[:5]]}"
        )

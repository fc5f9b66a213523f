"""Write a generated world as a dataset directory (docs/design.md, "Dataset contract"), all or nothing.

Files go to a temporary sibling directory that is renamed into place at the end, so an interrupted run
never leaves a half-written world that `check` might accept.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class WorldExistsError(FileExistsError):
    pass


def write_world(
    out: Path,
    items: pd.DataFrame,
    events: pd.DataFrame,
    oracle: pd.DataFrame,
    images: Iterable[tuple[str, bytes]],
    world: dict,
    *,
    overwrite: bool = False,
) -> None:
    """Write parquet files, `images/<name>` files and world.json; replace `out` only when complete."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise WorldExistsError(f"{out} exists and is not empty (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "images").mkdir(parents=True)
    try:
        for relative_path, data in images:
            (staging / relative_path).write_bytes(data)
        for name, frame in (("items", items), ("events", events), ("oracle", oracle)):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, staging / f"{name}.parquet")
        (staging / "world.json").write_text(json.dumps(world, indent=1, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

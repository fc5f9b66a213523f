"""The catalogue a backfill covers: item ids and image sources from a dataset's items.parquet.

Only `items.parquet` is read (a catalogue may be onboarded before it has any events), and only its two
columns, so millions of items load in seconds. Missing or unreadable image files are not an error here:
the backfill reports them per item, like the service does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from courier_core.dataset import ITEMS_FILE, DatasetError, is_url
from service.backfill.sharding import Shard
from service.backfill.sources import CatalogueImage

_COLUMNS = ("item_id", "image")
_SHOWN = 5


@dataclass(frozen=True)
class Catalogue:
    """Item ids and their image sources (absolute path or URL), in file order."""

    root: Path
    item_ids: list[str]
    images: list[str]

    def __len__(self) -> int:
        return len(self.item_ids)

    def source(self, position: int) -> CatalogueImage:
        """The item's URL, or the path of its file."""
        image = self.images[position]
        return image if is_url(image) else self.root / image

    def select(self, shard: Shard, limit: int | None = None) -> Catalogue:
        """The items of one shard, in file order, at most `limit` of them."""
        positions = [i for i, item_id in enumerate(self.item_ids) if shard.contains(item_id)]
        if limit is not None:
            positions = positions[:limit]
        return Catalogue(
            self.root, [self.item_ids[i] for i in positions], [self.images[i] for i in positions]
        )


def read_catalogue(data_dir: str | Path) -> Catalogue:
    """Read and check `<data_dir>/items.parquet`: string `item_id` (unique, non-empty) and `image`."""
    root = Path(data_dir).resolve()
    path = root / ITEMS_FILE
    if not path.is_file():
        raise DatasetError(ITEMS_FILE, None, f"file is missing (expected {path})")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(ITEMS_FILE, None, f"cannot read parquet: {exc}") from None
    missing = [c for c in _COLUMNS if c not in schema.names]
    if missing:
        raise DatasetError(ITEMS_FILE, missing[0], f"missing column(s) {missing}; found {schema.names}")
    table = pq.read_table(path, columns=list(_COLUMNS))
    for column in _COLUMNS:
        _check_strings(table, column)
    item_ids = table.column("item_id").to_pylist()
    images = table.column("image").to_pylist()
    if len(set(item_ids)) != len(item_ids):
        seen: set[str] = set()
        dupes = [i for i in item_ids if i in seen or seen.add(i)]
        raise DatasetError(ITEMS_FILE, "item_id", f"duplicate item ids, first: {dupes[:_SHOWN]}")
    return Catalogue(root, item_ids, images)


def _check_strings(table: pa.Table, column: str) -> None:
    values = table.column(column)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise DatasetError(ITEMS_FILE, column, f"expected strings, got {values.type}")
    nulls = values.null_count
    if nulls:
        raise DatasetError(ITEMS_FILE, column, f"{nulls} null value(s) are not allowed")
    empty = pc.sum(pc.equal(pc.utf8_length(values), 0)).as_py() or 0
    if empty:
        raise DatasetError(ITEMS_FILE, column, f"{empty} empty value(s) are not allowed")

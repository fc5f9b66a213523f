"""Read a CSV, TSV, JSON-lines or parquet file in chunks of rows, whatever its size.

Memory stays bounded by one chunk: CSV/TSV go through pyarrow's streaming reader, parquet through its
batch iterator, JSON lines through a block-wise line splitter (a malformed line is counted, not fatal,
and its line number is known). `.gz`, `.bz2` and `.zst` files are decompressed on the fly. Progress is
counted in bytes of the file on disk (rows for parquet).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from training.importers.progress import Progress
from training.importers.skips import SkipLedger, SourceError, keep_good

try:  # an order of magnitude faster on big review dumps; the standard library is the fallback
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - orjson comes with the serve extra
    from json import loads as _json_loads

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
BLOCK_BYTES = 4 << 20
JSON_CHUNK_LINES = 100_000
PARQUET_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Chunk:
    frame: pd.DataFrame  # the requested columns, default index; CSV/TSV values are strings
    rows: np.ndarray  # int64 per frame row: its 0-based data row (JSON lines: line) in the file


class TableFile:
    """One input file. `where(row)` turns a 0-based data-row index into words for error messages."""

    def __init__(self, path: str | Path, ledger: SkipLedger, *, block_bytes: int = BLOCK_BYTES) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.ledger = ledger
        self.block_bytes = block_bytes
        suffixes = [s.lower() for s in self.path.suffixes]
        self.compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
        kind = suffixes[-2] if self.compression and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
        if kind not in FORMATS:
            known = ", ".join(sorted(FORMATS))
            raise SourceError(
                self.name, None, f"unknown format {kind or '(no suffix)'!r}; use one of {known}"
            )
        self.format = FORMATS[kind]
        if self.format == "parquet" and self.compression:
            raise SourceError(self.name, None, "parquet files are compressed inside; do not wrap them")
        if not self.path.is_file():
            raise SourceError(self.name, None, f"file not found: {self.path}")

    def where(self, row: int) -> str:
        if self.format == "jsonl":
            return f"line {row + 1}"
        return f"row {row + 1}" + (" (after the header)" if self.format != "parquet" else "")

    def columns(self) -> list[str]:
        """Column names (JSON lines: the keys of the first record)."""
        if self.format == "parquet":
            return pq.read_schema(self.path).names
        if self.format == "jsonl":
            for _, record in self._records(limit=1, count_malformed=False):
                return list(record)
            return []
        with self._open() as stream:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=1 << 20),
                parse_options=self._csv_parse_options(count_malformed=False),
            )
            return reader.schema.names

    def require(self, columns: Iterable[str]) -> None:
        """SourceError naming the first missing column and the columns that are there."""
        found = self.columns()
        missing = [column for column in columns if column not in found]
        if missing:
            raise SourceError(self.name, missing[0], f"column(s) {missing} not in the file; found {found}")

    def read(self, columns: list[str]) -> Iterator[Chunk]:
        """Chunks holding `columns`, in file order, with a progress bar or log line."""
        self.require(columns)
        if self.format == "parquet":
            yield from self._read_parquet(columns)
        elif self.format == "jsonl":
            yield from self._read_jsonl(columns)
        else:
            yield from self._read_csv(columns)

    def _read_parquet(self, columns: list[str]) -> Iterator[Chunk]:
        parquet = pq.ParquetFile(self.path)
        row = 0
        with Progress(f"reading {self.name}", total=parquet.metadata.num_rows) as progress:
            for batch in parquet.iter_batches(batch_size=PARQUET_CHUNK_ROWS, columns=columns):
                yield Chunk(batch.to_pandas(), np.arange(row, row + batch.num_rows, dtype=np.int64))
                row += batch.num_rows
                progress.update(batch.num_rows)

    def _read_csv(self, columns: list[str]) -> Iterator[Chunk]:
        convert = pacsv.ConvertOptions(
            include_columns=columns, column_types={c: pa.string() for c in columns}
        )
        row = 0
        with self._open(progress=True) as stream:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=self.block_bytes),
                parse_options=self._csv_parse_options(),
                convert_options=convert,
            )
            for batch in reader:
                if batch.num_rows:
                    yield Chunk(batch.to_pandas(), np.arange(row, row + batch.num_rows, dtype=np.int64))
                    row += batch.num_rows

    def _csv_parse_options(self, *, count_malformed: bool = True) -> pacsv.ParseOptions:
        def malformed(bad: pacsv.InvalidRow) -> str:
            if count_malformed:
                problem = f"{bad.actual_columns} field(s) where the header has {bad.expected_columns}"
                example = f"{problem}: {bad.text[:80]!r}"
                self.ledger.add(self.name, None, "malformed row (wrong number of fields)", 1, [example])
            return "skip"

        return pacsv.ParseOptions(
            delimiter="\t" if self.format == "tsv" else ",",
            newlines_in_values=True,
            invalid_row_handler=malformed,
        )

    def _read_jsonl(self, columns: list[str]) -> Iterator[Chunk]:
        lines: list[int] = []
        records: list[dict] = []
        for line, record in self._records(progress=True):
            lines.append(line)
            records.append(record)
            if len(records) >= JSON_CHUNK_LINES:
                yield _json_chunk(records, lines, columns)
                lines, records = [], []
        if records:
            yield _json_chunk(records, lines, columns)

    def _records(
        self, *, limit: int | None = None, progress: bool = False, count_malformed: bool = True
    ) -> Iterator[tuple[int, dict]]:
        """(0-based line index, record) for every non-blank line; malformed lines go to the ledger."""
        found = 0
        with self._open(progress=progress) as stream:
            for index, line in enumerate(_lines(stream, self.block_bytes)):
                if not line.strip():
                    continue
                try:
                    record = _json_loads(line)
                except ValueError as exc:
                    record, problem = None, str(exc)
                else:
                    problem = (
                        "" if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
                    )
                if problem and count_malformed:
                    self.ledger.add(
                        self.name, None, "malformed JSON line", 1, [f"line {index + 1}: {problem[:80]}"]
                    )
                if problem:
                    continue
                yield index, record
                found += 1
                if limit is not None and found >= limit:
                    return

    def _open(self, *, progress: bool = False) -> _Opened:
        return _Opened(self.path, self.compression, f"reading {self.name}" if progress else None)


class _Opened:
    """A context manager giving a readable stream of the decompressed file, counting raw bytes read."""

    def __init__(self, path: Path, compression: str | None, progress_desc: str | None) -> None:
        self.path = path
        self.compression = compression
        self.progress_desc = progress_desc

    def __enter__(self) -> BinaryIO:
        self._progress = (
            Progress(self.progress_desc, total=self.path.stat().st_size, unit="B")
            if self.progress_desc
            else None
        )
        self._raw = _CountingReader(open(self.path, "rb"), self._progress)  # noqa: SIM115 - closed in __exit__
        return pa.CompressedInputStream(self._raw, self.compression) if self.compression else self._raw

    def __exit__(self, *exc: object) -> None:
        self._raw.close()
        if self._progress is not None:
            self._progress.close()


class _CountingReader(io.RawIOBase):
    def __init__(self, file: BinaryIO, progress: Progress | None) -> None:
        self._file = file
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._file.readinto(buffer)
        if self._progress is not None and n:
            self._progress.update(n)
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def _json_chunk(records: list[dict], lines: list[int], columns: list[str]) -> Chunk:
    frame = pd.DataFrame({column: [r.get(column) for r in records] for column in columns}, dtype=object)
    return Chunk(frame, np.asarray(lines, dtype=np.int64))


def _lines(stream: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    tail = b""
    while block := stream.read(block_bytes):
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail:
        yield tail


class RowFilter:
    """The rows of one chunk still kept; each `drop` counts the rows it newly drops under its reason."""

    def __init__(self, table: TableFile, chunk: Chunk) -> None:
        self.table = table
        self.chunk = chunk
        self.ok = np.ones(len(chunk.frame), dtype=bool)

    def raw(self, column: str) -> np.ndarray:
        return self.chunk.frame[column].to_numpy(dtype=object)

    def drop(self, column: str | None, reason: str, bad: np.ndarray, *, show: bool = True) -> None:
        """Drop rows where `bad` holds; `show` puts the raw value of `column` into the examples."""
        values = self.raw(column) if show and column is not None else None
        t = self.table
        self.ok &= keep_good(
            t.ledger, t.name, column, reason, bad & self.ok, self.chunk.rows, values, t.where
        )

"""What an import left out and why: every skipped row is counted under a reason, with a few examples.

Real logs always hold some bad rows; an importer that stops at the first one is useless on a 30 GB file,
and one that drops them quietly gives a dataset nobody can trust. So rows are skipped, counted per
(file, column, reason), and the tally is printed and written to dataset.json. Structural problems (a
missing column, a file that cannot be read) raise `SourceError` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

_EXAMPLES = 3


class SourceError(ValueError):
    """An input that cannot be imported at all; names the file, the column and, when known, the row."""

    def __init__(self, file: str, column: str | None, problem: str) -> None:
        where = f"{file}, column '{column}'" if column else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.column = column


@dataclass
class Skip:
    file: str
    column: str | None
    reason: str
    rows: int = 0
    examples: list[str] = field(default_factory=list)


class SkipLedger:
    """Counts of skipped rows by (file, column, reason), in the order the reasons first appeared."""

    def __init__(self) -> None:
        self._skips: dict[tuple[str, str | None, str], Skip] = {}

    def add(
        self, file: str, column: str | None, reason: str, rows: int, examples: Iterable[str] = ()
    ) -> None:
        if rows <= 0:
            return
        skip = self._skips.setdefault((file, column, reason), Skip(file, column, reason))
        skip.rows += rows
        for example in examples:
            if len(skip.examples) >= _EXAMPLES:
                break
            skip.examples.append(example)

    def rows(self) -> int:
        return sum(s.rows for s in self._skips.values())

    def as_json(self) -> list[dict]:
        return [
            {"file": s.file, "column": s.column, "reason": s.reason, "rows": s.rows, "examples": s.examples}
            for s in self._skips.values()
        ]

    def report(self) -> str:
        if not self._skips:
            return "skipped: nothing"
        lines = [f"skipped {self.rows():,} row(s) in all (each counted once, under its first reason):"]
        for s in self._skips.values():
            where = f"{s.file}, {s.column}" if s.column else s.file
            lines.append(f"  {s.rows:>10,}  {where}: {s.reason}")
            lines += [f"{'':14}e.g. {example}" for example in s.examples]
        return "\n".join(lines)


def keep_good(
    ledger: SkipLedger,
    file: str,
    column: str | None,
    reason: str,
    bad: np.ndarray,
    rows: np.ndarray,
    values: np.ndarray | None,
    where: Callable[[int], str],
) -> np.ndarray:
    """Count the rows where `bad` holds (with their location and value as examples); the mask to keep."""
    if bad.any():
        positions = np.flatnonzero(bad)[:_EXAMPLES]
        examples = [
            where(int(rows[p])) + (f": {values[p]!r}" if values is not None else "") for p in positions
        ]
        ledger.add(file, column, reason, int(bad.sum()), examples)
    return ~bad

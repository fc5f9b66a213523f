"""Progress of a long import: a tqdm bar on a terminal, one log line per interval anywhere else.

A 30 GB import runs for a long time, often under nohup or in a CI job whose log would fill with bar
redraws; there a plain line every `interval_s` says how far it got.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class Progress:
    """Counts `unit`s out of an optional `total`; use as a context manager and call `update(n)`."""

    def __init__(
        self, desc: str, *, total: float | None = None, unit: str = "rows", interval_s: float = LOG_INTERVAL_S
    ) -> None:
        self.desc = desc
        self.total = total
        self.unit = unit
        self.count = 0.0
        self._interval_s = interval_s
        self._started = time.monotonic()
        self._last_log = self._started
        bytes_unit = unit == "B"
        self._bar = (
            tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=bytes_unit,
                unit_divisor=1024 if bytes_unit else 1000,
            )
            if sys.stderr.isatty()
            else None
        )

    def update(self, n: float) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_log >= self._interval_s:
            self._last_log = now
            print(self._line(now), file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        done = _amount(self.count, self.unit)
        share = f" of {_amount(self.total, self.unit)} ({self.count / self.total:.0%})" if self.total else ""
        return f"[{self.desc}] {done}{share}, {now - self._started:.0f} s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            print(self._line(time.monotonic()) + ", done", file=sys.stderr, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _amount(value: float, unit: str) -> str:
    if unit == "B":
        for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:.1f} {name}"
        return f"{value:.0f} B"
    return f"{value:,.0f} {unit}"

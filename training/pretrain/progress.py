"""Step progress of a training run: a tqdm bar on a terminal, one plain line per step otherwise.

tqdm draws nothing useful into a file or a pipe, so a run logged with `2> train.log` (or under a job
runner) would be silent until it ends; there each step writes a line such as
`step 12/290 epoch 0: loss 2.451, samples_s 31, 25 s elapsed, about 5 min left`.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


class StepLines:
    """The tqdm calls the loop makes (`set_postfix`, `update`, `close`), written as one line per step."""

    def __init__(self, total: int, initial: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, initial, stream
        self._first = initial
        self._started = time.monotonic()
        self._fields: dict[str, Any] = {}

    def set_postfix(self, **fields: Any) -> None:
        self._fields = fields

    def update(self, steps: int = 1) -> None:
        self.done += steps
        elapsed = time.monotonic() - self._started
        fields = dict(self._fields)
        epoch = fields.pop("epoch", None)
        where = f"step {self.done}/{self.total}" + (f" epoch {epoch}" if epoch is not None else "")
        shown = [f"{name} {value}" for name, value in fields.items()]
        left = elapsed / max(1, self.done - self._first) * (self.total - self.done)
        timing = f"{elapsed:.0f} s elapsed, about {_duration(left)} left"
        print(f"{where}: {', '.join([*shown, timing])}", file=self.stream, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> StepLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def step_progress(total: int, initial: int, *, show: bool, bar: bool | None = None) -> tqdm | StepLines:
    """`bar` None: a bar when stderr is a terminal, lines otherwise; True: a bar; False: nothing."""
    if show and bar is None and not sys.stderr.isatty():
        return StepLines(total, initial, sys.stderr)
    return tqdm(total=total, initial=initial, disable=not (show and bar is not False), unit="step",
                dynamic_ncols=True)  # fmt: skip


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"

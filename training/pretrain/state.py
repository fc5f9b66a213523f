"""Run state a checkpoint must carry besides the weights: where the loop is (`LoopState`) and the RNG
states; and the SIGINT request that makes the loop save and stop at the next step boundary."""

from __future__ import annotations

import dataclasses
import math
import random
import signal
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from training.distributed import DistContext


@dataclass
class LoopState:
    """Where the run is; saved in every checkpoint (as "position") and restored by --resume."""

    epoch: int = 0
    batch: int = 0  # batches of `epoch` done
    step: int = 0  # optimiser steps done
    best_val: float = math.inf  # lowest validation loss so far (best.pt)
    elapsed_s: float = 0.0  # training wall time at the last save, over every session of the run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LoopState:
        return cls(**values)


class Interrupt:
    """First SIGINT asks the loop to save and stop at the next step boundary; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> Interrupt:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\ninterrupt: saving a checkpoint at the end of this step (Ctrl-C again to abort)",
            file=sys.stderr,
        )

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def agreed(self, device: torch.device, dist_ctx: DistContext) -> bool:
        """All ranks stop together: any rank's request stops every rank."""
        if dist_ctx.world_size == 1:
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

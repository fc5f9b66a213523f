"""Data-parallel training in one place: the torchrun process group (gloo on CPU, nccl on CUDA), the
all-gather with gradients the losses contrast against, sums over ranks, and which rows are this rank's.

Losses return each rank's share of the global-batch loss and gather embeddings with gradients, so the
sum of the ranks' gradients is exactly the single-process gradient of the global batch;
`sync_gradients` sums them in one flat all-reduce. This is what DistributedDataParallel does, minus
bucketing overlap, and it stays exact with unused parameters and gradient checkpointing.

Rank and world size travel as a `DistContext` value passed to whoever needs them (losses included), so
no function reads them from global state; without a process group every helper is the identity.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """This process's place among the data-parallel ranks; the default is a single process."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, {self.world_size}), got {self.rank}")

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0

    def own_rows(self, per_rank: int) -> slice:
        """THE slicing rule: of rows laid out rank after rank (``per_rank`` each), this rank's."""
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def local_part(self, global_rows: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch: ``len // world_size`` rows (a remainder goes unused)."""
        return global_rows[self.own_rows(len(global_rows) // self.world_size)]


@contextmanager
def process_group(device: str) -> Iterator[tuple[torch.device, DistContext]]:
    """Join the torchrun process group when launched by torchrun (and leave it on exit, if this call
    joined it); yield this process's device and its `DistContext`."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    joined = size > 1 and not dist.is_initialized()
    if joined:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield _device(device, size), current_context()
    finally:
        if joined:
            dist.destroy_process_group()


def _device(name: str, size: int) -> torch.device:
    if not name.startswith("cuda"):
        return torch.device("cpu")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if size > 1 else torch.device(name)
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.set_device(device)
    return device


def current_context() -> DistContext:
    """The context of the initialised process group (single process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size())
    return DistContext()


class _GatherWithGrad(torch.autograd.Function):
    """Forward concatenates every rank's tensor; backward sums the incoming gradients over ranks and
    returns this rank's rows."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, dist_ctx: DistContext) -> torch.Tensor:  # type: ignore[override]
        ctx.dist_ctx = dist_ctx
        return _all_gather(tensor, dist_ctx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        dist_ctx: DistContext = ctx.dist_ctx
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[dist_ctx.own_rows(grad.shape[0] // dist_ctx.world_size)], None


def _all_gather(tensor: torch.Tensor, dist_ctx: DistContext) -> torch.Tensor:
    parts = [torch.empty_like(tensor) for _ in range(dist_ctx.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def gather(tensor: torch.Tensor, dist_ctx: DistContext) -> torch.Tensor:
    """Concatenate along dim 0 over ranks (equal shapes); differentiable when the input requires grad.
    This rank's rows of the result are `dist_ctx.own_rows(len(tensor))`."""
    if dist_ctx.world_size == 1:
        return tensor
    if tensor.requires_grad:
        return _GatherWithGrad.apply(tensor, dist_ctx)
    return _all_gather(tensor, dist_ctx)


def global_sum(value: torch.Tensor, dist_ctx: DistContext) -> torch.Tensor:
    """Sum of a (non-differentiable) tensor over ranks."""
    if dist_ctx.world_size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def sum_to_host(tensors: Sequence[torch.Tensor | None], dist_ctx: DistContext) -> list[torch.Tensor | None]:
    """Detached float32 copies summed over ranks, on the CPU (one all-reduce, one device→host copy);
    None entries stay None. For the step's statistics, which are summed once per step."""
    present = [t.detach().float().reshape(-1) for t in tensors if t is not None]
    if not present:
        return [None] * len(tensors)
    flat = torch.cat(present)
    if dist_ctx.world_size > 1:
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    parts = iter(flat.cpu().split([p.numel() for p in present]))
    return [None if t is None else next(parts).view_as(t) for t in tensors]


def sync_gradients(model: nn.Module, dist_ctx: DistContext) -> None:
    """Sum every parameter's gradient over ranks (missing gradients count as zero)."""
    if dist_ctx.world_size == 1:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))  # type: ignore[union-attr]
        offset += n

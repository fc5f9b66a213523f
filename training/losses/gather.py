"""All-gather with gradients, so every rank contrasts against the global batch (DESIGN §3).

Forward concatenates every rank's tensor (equal shapes); backward sums the incoming gradients over ranks
and returns this rank's slice. Without an initialised process group both are the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, size = world()
        ctx.rank, ctx.size = rank, size
        parts = [torch.empty_like(tensor) for _ in range(size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad.chunk(ctx.size, dim=0)[ctx.rank]


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate along dim 0 over ranks; differentiable when the input requires grad."""
    rank, size = world()
    if size == 1:
        return tensor
    if tensor.requires_grad:
        return _GatherWithGrad.apply(tensor)
    parts = [torch.empty_like(tensor) for _ in range(size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def local_slice(count: int) -> slice:
    """The rows of a gathered tensor (``count`` per rank) that belong to this rank."""
    rank, _ = world()
    return slice(rank * count, (rank + 1) * count)


def global_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum of a (non-differentiable) scalar over ranks."""
    _, size = world()
    if size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value

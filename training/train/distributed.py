"""torchrun support: process-group setup (gloo on CPU, nccl on CUDA) and gradient sync.

Losses return each rank's share of the global-batch loss and gather embeddings with gradients, so the
sum of the ranks' gradients is exactly the single-process gradient of the global batch; `sync_gradients`
all-reduces (sums) them in one flat buffer. This is what DistributedDataParallel does, minus bucketing
overlap, and it stays exact with unused parameters and gradient checkpointing.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from training.losses.gather import world
from training.train.config import TrainConfig


def setup_distributed(cfg: TrainConfig) -> torch.device:
    """Join the torchrun process group if launched by torchrun; return this process's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = cfg.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local) if size > 1 else torch.device(cfg.device)
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def sync_gradients(model: nn.Module) -> None:
    """Sum every parameter's gradient over ranks (missing gradients count as zero)."""
    if world()[1] == 1:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n

"""A plain-PyTorch ResNet family with configurable width, depth and norm (no torchvision).

Module names follow torchvision's layout (conv1/bn1/layer1.0.conv1/downsample.0 ...), so a torchvision-style
state dict loads with `norm="batch"`. GroupNorm is the default: it is per-sample, so encoding each distinct
image of a batch once gives exactly the same result as encoding every position (the dedup path), and it
does not leak batch statistics into contrastive losses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class ResNetSpec:
    width: int = 16
    depths: tuple[int, ...] = (1, 1, 1, 1)
    block: str = "basic"  # "basic" (ResNet-18/34) or "bottleneck" (ResNet-50+)
    stem: str = "small"  # "small": 3x3 stride 2 (inputs 32-96 px); "imagenet": 7x7 stride 2 + max-pool
    norm: str = "group"  # "group" or "batch"


PRESETS: dict[str, ResNetSpec] = {
    "resnet-tiny": ResNetSpec(width=8, depths=(1, 1, 1, 1)),
    "resnet-small": ResNetSpec(width=16, depths=(1, 1, 1, 1)),
    "resnet-medium": ResNetSpec(width=32, depths=(1, 1, 2, 1)),
    "resnet18": ResNetSpec(width=64, depths=(2, 2, 2, 2), stem="imagenet"),
    "resnet50": ResNetSpec(width=64, depths=(3, 4, 6, 3), block="bottleneck", stem="imagenet"),
}
_CUSTOM = re.compile(r"^resnet-w(\d+)-d(\d+)(-bottleneck)?$")


def parse_resnet_name(name: str) -> ResNetSpec | None:
    """A preset name, or `resnet-w<width>-d<depth digits>[-bottleneck]` (e.g. resnet-w24-d1121)."""
    if name in PRESETS:
        return PRESETS[name]
    match = _CUSTOM.match(name)
    if not match:
        return None
    block = "bottleneck" if match.group(3) else "basic"
    return ResNetSpec(width=int(match.group(1)), depths=tuple(int(d) for d in match.group(2)), block=block)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    groups = 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, norm: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = _norm(norm, width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = _norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, norm: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = _norm(norm, width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = _norm(norm, width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = _norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(cin: int, cout: int, stride: int, norm: str) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _norm(norm, cout))


class ResNet(nn.Module):
    """Returns globally average-pooled features [N, feature_dim]."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        block = Bottleneck if spec.block == "bottleneck" else BasicBlock
        w = spec.width
        if spec.stem == "imagenet":
            self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(3, w, 3, 2, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = _norm(spec.norm, w)
        self.relu = nn.ReLU(inplace=True)
        cin = w
        stages = []
        for i, depth in enumerate(spec.depths):
            width = w * 2**i
            blocks = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(cin, width, stride, spec.norm))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = stages
        for i, stage in enumerate(stages):
            self.add_module(f"layer{i + 1}", stage)
        self.feature_dim = cin
        self.grad_checkpointing = False
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages:
            if self.grad_checkpointing and self.training and x.requires_grad:
                x = checkpoint(stage, x, use_reentrant=False)
            else:
                x = stage(x)
        return x.mean(dim=(2, 3))

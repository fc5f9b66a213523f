"""How many steps does a backbone need to *see* each world factor when it is told the labels?

A research diagnostic for synthetic worlds (it reads the truth through `training.probes`): the backbone
plus one linear head per factor is trained supervised on 70% of the items and scored on the rest. If a
factor stays near chance here, no click-based loss can put it into the embedding at that budget.

    .venv/bin/python -m benchmarks.factor_learnability --data /tmp/worlds/default --size 64 --steps 300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from courier_core.dataset import load_dataset
from courier_core.images import read_image_file
from courier_core.normalization import IMAGENET_MEAN, IMAGENET_STD
from training.models.backbones import build_backbone
from training.probes import load_world_factors

FACTORS = ("category", "colour", "pattern", "trim")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a synthetic world (with world.json)")
    p.add_argument("--size", type=int, default=64, help="input px (the training default is 64)")
    p.add_argument("--backbone", default="resnet-small")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> int:
    args = parse_args()
    loaded = load_world_factors(args.data)
    if loaded is None:
        print(f"{args.data} has no world.json: this diagnostic needs a synthetic world", file=sys.stderr)
        return 2
    factors, _groups = loaded
    items = load_dataset(args.data).items
    table = factors.loc[items["item_id"]]
    images = np.stack([read_image_file(args.data / path, args.size) for path in items["image"]])
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - mean) / std  # as in training
    labels = {f: torch.from_numpy(pd.Categorical(table[f]).codes.astype(np.int64)) for f in FACTORS}

    torch.manual_seed(args.seed)
    order = torch.randperm(len(x))
    train, test = order[: int(0.7 * len(x))], order[int(0.7 * len(x)) :]
    backbone, features = build_backbone(args.backbone)
    heads = nn.ModuleDict({f: nn.Linear(features, int(labels[f].max()) + 1) for f in FACTORS})
    optimiser = torch.optim.AdamW([*backbone.parameters(), *heads.parameters()], lr=args.lr)
    start = time.perf_counter()
    for _ in range(args.steps):
        batch = train[torch.randint(len(train), (args.batch_size,))]
        pooled = backbone(x[batch])
        loss = sum(nn.functional.cross_entropy(heads[f](pooled), labels[f][batch]) for f in FACTORS)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    backbone.eval()
    with torch.no_grad():
        pooled = torch.cat([backbone(x[test[i : i + 256]]) for i in range(0, len(test), 256)])
    print(
        f"{args.backbone} at {args.size} px, {args.steps} supervised steps ({time.perf_counter() - start:.0f} s):"
    )
    for f in FACTORS:
        accuracy = float((heads[f](pooled).argmax(1) == labels[f][test]).float().mean())
        chance = float(torch.bincount(labels[f][test]).max()) / len(test)
        print(f"  {f:9s} held-out accuracy {accuracy:.2f} (chance {chance:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m training train --data DIR --method M --out RUN_DIR`: pre-train an image encoder.

Precedence: built-in defaults < `--config FILE` (JSON with TrainConfig keys) < explicit flags. The
resolved config is written to RUN_DIR/config.json. Run under `torchrun --nproc-per-node N -m training
train ...` for data-parallel training (gloo on CPU, nccl on CUDA); only rank 0 writes files.

Defaults (sized for the `default` world on a 2-core CPU; time per epoch in the README, "Train and
embed"): resnet-small (4 stages, widths 16–128, GroupNorm), 64 px input, 64-d
embeddings, history 20, 32 page views per step (128 images for clip/simclr/simsiam), 1 epoch, AdamW
lr 2e-3 with warm-up + cosine, learned τ from 0.1, λ_clip 0.1, and the per-page COURIER term only
(page weight 1.0), which docs/experiments.md found to carry taste. More epochs help
(on a GPU, `--device cuda --epochs 5` or more).
"""

from __future__ import annotations

import argparse
import sys

from training.pretrain.config import METHODS, ConfigError, TrainConfig, read_config_file

_ON_OFF = {"on": True, "off": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    d = TrainConfig.__dataclass_fields__
    a = parser.add_argument
    a("--data", help='dataset directory (docs/design.md, "Dataset contract")')
    a("--method", choices=METHODS, help="courier or a baseline; random saves the untrained encoder")
    a("--out", help="run directory to create (or continue with --resume)")
    a("--config", help="JSON file of TrainConfig keys; explicit flags override it")
    a(
        "--backbone",
        help=f"resnet-tiny|resnet-small|resnet-medium|resnet18|resnet50, resnet-w<W>-d<digits>, or timm:NAME (default {d['backbone'].default})",
    )
    a("--pretrained", help="local backbone weights (safetensors or torch state dict); never downloaded")
    a(
        "--image-size",
        type=int,
        help=f"training input side in px; the image cache resizes once (default {d['image_size'].default})",
    )
    a("--dim", type=int, help=f"embedding dimension (default {d['dim'].default})")
    a("--history", type=int, help=f"max history images per page view (default {d['history'].default})")
    a("--batch-size", type=int, help=f"page views per step, global (default {d['batch_size'].default})")
    a(
        "--item-batch-size",
        type=int,
        help=f"images per step for clip/simclr/simsiam (default {d['item_batch_size'].default})",
    )
    a("--epochs", type=int, help=f"passes over the training data (default {d['epochs'].default})")
    a("--max-steps", type=int, help="stop after this many optimiser steps (time-boxed runs)")
    a("--lr", type=float, help=f"peak learning rate (default {d['lr'].default})")
    a("--weight-decay", type=float, help=f"AdamW weight decay (default {d['weight_decay'].default})")
    a("--temperature", type=float, help=f"τ, initial value when learned (default {d['temperature'].default})")
    a("--fixed-temperature", action="store_true", default=None, help="keep τ fixed (ablation)")
    a(
        "--clip-weight",
        type=float,
        help=f"λ of the image–title loss for courier; 0 = off (default {d['clip_weight'].default})",
    )
    a("--no-projections", action="store_true", default=None, help="identity W_q/W_k/W_v (ablation)")
    a(
        "--page-weight",
        type=float,
        help=f"share of the per-page softmax term; the rest goes to the in-batch two-direction loss (default {d['page_weight'].default})",
    )
    a(
        "--same-page-weight",
        type=float,
        help=f"weight of same-page negatives in the in-batch items direction (default {d['same_page_weight'].default})",
    )
    a(
        "--inbatch-negatives",
        choices=("all", "same-category", "none"),
        help="which other pages' items are negatives (default all)",
    )
    a(
        "--history-grad",
        choices=sorted(_ON_OFF),
        help="off: history-only images are encoded without gradient (cheaper; ablation)",
    )
    a("--init-from", help="start the encoder from another run's last checkpoint (e.g. a simclr or clip run)")
    a("--seed", type=int, help="seed of weights, data order and augmentations (default 0)")
    a("--device", help="cpu or cuda (default cpu)")
    a("--amp", action="store_true", default=None, help="bf16 autocast on CUDA")
    a(
        "--grad-checkpointing",
        action="store_true",
        default=None,
        help="recompute backbone stages in backward (big backbones)",
    )
    a(
        "--checkpoint-every",
        type=int,
        help=f"save last.pt every N steps (default {d['checkpoint_every'].default})",
    )
    a("--resume", action="store_true", default=None, help="continue RUN_DIR from checkpoints/last.pt exactly")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = read_config_file(args.config) if args.config else {}
    flags = {
        key: getattr(args, key)
        for key in TrainConfig.__dataclass_fields__
        if hasattr(args, key) and getattr(args, key) is not None
    }
    if args.fixed_temperature:
        flags["learn_temperature"] = False
    if args.no_projections:
        flags["projections"] = False
    if args.history_grad is not None:
        flags["history_grad"] = _ON_OFF[args.history_grad]
    values.update(flags)
    missing = [k for k in ("data", "method", "out") if k not in values]
    if missing:
        raise ConfigError(f"missing {', '.join('--' + k for k in missing)} (as flags or in --config)")
    return TrainConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    from courier_core.dataset import DatasetError
    from training.checkpoint import CheckpointError
    from training.pretrain.loop import train

    try:
        cfg = config_from_args(args)
        result = train(cfg)
    except (ConfigError, DatasetError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    if result.status == "interrupted":
        print(f"interrupted at step {s['steps']}; resume with the same command plus --resume")
        return 130
    if result.dist_ctx.is_main:
        shown = {
            k: s[k] for k in ("steps", "wall_s", "final_train_loss", "best_val_loss") if s.get(k) is not None
        }
        for key in ("val_page_auc", "val_page_auc_plain", "val_top1", "val_chance"):
            if key in s:
                shown[key] = round(s[key], 4)
        print(f"trained {cfg.method} → {result.run_dir}: {shown}")
        data = s["data"]
        print(
            f"page views: {data['train_page_views']} train, {data['val_page_views']} validation; skipped "
            f"{data['skipped_no_click']} without clicks and {data['skipped_no_history']} without history"
        )
    return 0

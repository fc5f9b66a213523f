"""One training run's parts, set up or resumed from RUN_DIR/checkpoints/last.pt: data, model, optimiser,
schedule, logs and the loop state; and what a run writes besides the step logs (checkpoints,
summary.json, training.png)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from courier_core.dataset import load_dataset
from training.checkpoint import checkpoint_path, encoder_state, load_checkpoint, save_checkpoint
from training.distributed import DistContext
from training.image_cache import open_image_cache
from training.models.text import TitleTokens
from training.pretrain.config import ConfigError, TrainConfig
from training.pretrain.images import ImageFeeder
from training.pretrain.model import TrainModel, build_optimizer, build_scheduler
from training.pretrain.pages import TrainingData, build_training_data
from training.pretrain.plots import plot_run
from training.pretrain.runlog import RunLog, read_rows
from training.pretrain.state import LoopState, rng_state, seed_everything, set_rng_state
from training.pretrain.steps import MethodSteps


@dataclass
class TrainResult:
    run_dir: Path
    status: str  # "finished" or "interrupted" (SIGINT; last.pt saved)
    dist_ctx: DistContext
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    cfg: TrainConfig
    dist_ctx: DistContext
    device: torch.device
    run_dir: Path
    data: TrainingData
    samples: int  # training samples per epoch: page views (courier) or distinct item images
    global_batch: int  # samples per optimiser step, over all ranks
    steps_per_epoch: int
    total_steps: int
    model: TrainModel
    steps: MethodSteps
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    log: RunLog
    state: LoopState
    resumed: bool
    started: float  # time.time() when this session started
    elapsed_before: float  # training wall time of the earlier sessions (from the resumed checkpoint)

    def elapsed(self) -> float:
        """Training wall time over every session of this run (resumes add up, saves do not)."""
        return self.elapsed_before + time.time() - self.started

    def save(self, which: str) -> None:
        """Every rank takes part (their RNG states go into the checkpoint); rank 0 writes it."""
        rngs: list[Any] = [None] * self.dist_ctx.world_size
        if self.dist_ctx.world_size > 1:
            dist.all_gather_object(rngs, rng_state())
        else:
            rngs = [rng_state()]
        self.state.elapsed_s = self.elapsed()
        if self.dist_ctx.is_main:
            state = {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "rng": rngs,
                "position": self.state.to_dict(), "config": self.cfg.to_dict(), "stats": self.data.stats,
            }  # fmt: skip
            save_checkpoint(checkpoint_path(self.run_dir, which), state)

    def finish(self, status: str, last_val: dict[str, Any]) -> TrainResult:
        """summary.json (when finished) and training.png, from rank 0."""
        main = self.dist_ctx.is_main
        rows = read_rows(self.run_dir / "metrics.jsonl") if main else []
        recent = [r for r in rows if r["kind"] == "step"][-20:]
        state = self.state
        summary = {
            "status": status, "method": self.cfg.method, "wall_s": round(self.elapsed(), 2),
            "steps": state.step, "epochs_done": state.epoch, "world_size": self.dist_ctx.world_size,
            "final_train_loss": float(np.mean([r["loss"] for r in recent])) if recent else None,
            "best_val_loss": None if math.isinf(state.best_val) else state.best_val,
            "samples_per_s": float(np.mean([r["samples_per_s"] for r in recent])) if recent else None,
            **last_val, "data": self.data.stats,
        }  # fmt: skip
        if main:
            if status == "finished":
                (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            plot_run(self.run_dir)
        return TrainResult(self.run_dir, status, self.dist_ctx, summary)


def open_run(cfg: TrainConfig, device: torch.device, dist_ctx: DistContext) -> Run:
    """A new run in cfg.out, or the same run continued from its last.pt with --resume."""
    run_dir = Path(cfg.out)
    last_path = checkpoint_path(run_dir, "last")
    if last_path.exists() and not cfg.resume:
        raise ConfigError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    resuming = cfg.resume and last_path.exists()
    started = time.time()

    dataset = load_dataset(cfg.data, image_check="none")
    cache = open_image_cache(dataset, cfg.image_size)
    data = build_training_data(
        dataset.items, dataset.events, cache.index, history=cfg.history, train_fraction=cfg.train_fraction,
        val_fraction=cfg.val_fraction, val_max_pages=cfg.val_max_pages,
    )  # fmt: skip
    page_method = cfg.method == "courier"
    global_batch = cfg.batch_size if page_method else cfg.item_batch_size
    if global_batch % dist_ctx.world_size:
        raise ConfigError(
            f"the batch size {global_batch} must be divisible by the number of processes "
            f"({dist_ctx.world_size})"
        )
    n_samples = len(data.train) if page_method else len(data.item_rows)
    steps_per_epoch = n_samples // global_batch
    if steps_per_epoch == 0 and cfg.method != "random":
        raise ConfigError(f"batch size {global_batch} is larger than the {n_samples} training samples")
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    seed_everything(cfg.seed)
    model = TrainModel(cfg).to(device)
    if cfg.init_from:
        _init_encoder_from(model, cfg)
    feeder = ImageFeeder(cache.array, cfg.mean, cfg.std, device)
    titles = TitleTokens(data.titles, cfg.text_buckets) if model.text is not None else None
    steps = MethodSteps(cfg, data.categories, feeder, titles, dist_ctx)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, max(total_steps, 1))
    scaler = torch.amp.GradScaler(
        device.type, enabled=False
    )  # bf16 needs no loss scaling; kept for the format
    if dist_ctx.is_main:  # only now: bad data or settings leave no run directory behind
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    state = LoopState()
    log = RunLog(run_dir / "metrics.jsonl", enabled=dist_ctx.is_main)
    if resuming:
        saved = load_checkpoint(run_dir, "last")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        rng = saved["rng"]
        set_rng_state(rng[dist_ctx.rank] if isinstance(rng, list) else rng)
        state = LoopState.from_dict(saved["position"])
        _check_same_config(saved["config"], cfg)
        log.truncate_after(state.step)
    else:
        log.reset()
    return Run(
        cfg, dist_ctx, device, run_dir, data, n_samples, global_batch, steps_per_epoch, total_steps, model,
        steps, optimizer, scheduler, scaler, log, state, resuming, started, state.elapsed_s,
    )  # fmt: skip


def _init_encoder_from(model: TrainModel, cfg: TrainConfig) -> None:
    source = load_checkpoint(cfg.init_from, "last")
    theirs = source["config"]
    if (theirs["backbone"], int(theirs["dim"])) != (cfg.backbone, cfg.dim):
        raise ConfigError(
            f"--init-from {cfg.init_from}: its encoder is {theirs['backbone']} dim {theirs['dim']}, "
            f"this run asks for {cfg.backbone} dim {cfg.dim}; they must match"
        )
    model.encoder.load_state_dict(encoder_state(source["model"]))


def _check_same_config(saved: dict[str, Any], cfg: TrainConfig) -> None:
    """--resume continues the SAME run: every setting but resume/device must match the checkpoint."""
    current = json.loads(json.dumps(cfg.to_dict()))
    saved = json.loads(json.dumps(saved))
    changed = [k for k in current if k not in ("resume", "device") and saved.get(k) != current[k]]
    if changed:
        shown = ", ".join(f"{k}: {saved.get(k)!r} → {current[k]!r}" for k in changed)
        raise ConfigError(
            f"--resume with different settings than the checkpoint ({shown}); use the original flags"
        )

"""The training loop: data order, optimiser steps, gradient sync, checkpoints, logs, resume, SIGINT.

Exact resume: the data order is a pure function of (seed, epoch), augmentation draws come from a
generator seeded by (seed, step, rank), and the checkpoint holds everything else (weights, optimiser,
scheduler, scaler, RNG states, epoch and batch position). A run killed at any point and resumed from
its last checkpoint replays the lost steps and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from courier_core.dataset import load_dataset
from training.checkpoint import checkpoint_path, encoder_state, load_checkpoint, save_checkpoint
from training.image_cache import open_image_cache
from training.losses.gather import world
from training.models.text import TitleTokens
from training.plots import plot_run
from training.train.config import ConfigError, TrainConfig
from training.train.distributed import setup_distributed, sync_gradients
from training.train.images import ImageFeeder
from training.train.model import TrainModel, build_optimizer, build_scheduler
from training.train.pages import build_training_data, epoch_order
from training.train.runlog import RunLog, read_rows
from training.train.state import Interrupt, rng_state, seed_everything, set_rng_state
from training.train.steps import MethodSteps
from training.train.validate import validate


@dataclass
class TrainResult:
    run_dir: Path
    status: str  # "finished" or "interrupted" (SIGINT; last.pt saved)
    summary: dict[str, Any] = field(default_factory=dict)


def _init_encoder_from(model: TrainModel, cfg: TrainConfig) -> None:
    source = load_checkpoint(cfg.init_from, "last")
    theirs = source["config"]
    if (theirs["backbone"], int(theirs["dim"])) != (cfg.backbone, cfg.dim):
        raise ConfigError(
            f"--init-from {cfg.init_from}: its encoder is {theirs['backbone']} dim {theirs['dim']}, "
            f"this run asks for {cfg.backbone} dim {cfg.dim}; they must match"
        )
    model.encoder.load_state_dict(encoder_state(source["model"]))


def train(cfg: TrainConfig, *, progress: bool | None = None) -> TrainResult:
    """Train one method; writes RUN_DIR (config.json, checkpoints, metrics.jsonl, training.png, summary.json)."""
    device = setup_distributed(cfg)
    rank, size = world()
    main = rank == 0
    run_dir = Path(cfg.out)
    last_path = checkpoint_path(run_dir, "last")
    if last_path.exists() and not cfg.resume:
        raise ConfigError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    resuming = cfg.resume and last_path.exists()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    started = time.time()

    dataset = load_dataset(cfg.data, image_check="none")
    cache = open_image_cache(dataset, cfg.image_size)
    data = build_training_data(
        dataset.items, dataset.events, cache.index, history=cfg.history, train_fraction=cfg.train_fraction,
        val_fraction=cfg.val_fraction, val_max_pages=cfg.val_max_pages,
    )  # fmt: skip
    page_method = cfg.method == "courier"
    global_batch = cfg.batch_size if page_method else cfg.item_batch_size
    if global_batch % size:
        raise ConfigError(
            f"the batch size {global_batch} must be divisible by the number of processes ({size})"
        )
    per_rank = global_batch // size
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
    steps = MethodSteps(cfg, data.categories, feeder, titles)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, max(total_steps, 1))
    scaler = torch.amp.GradScaler(
        device.type, enabled=False
    )  # bf16 needs no loss scaling; kept for the format
    position: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "best_val": math.inf, "elapsed_s": 0.0}
    log = RunLog(run_dir / "metrics.jsonl", enabled=main)
    if resuming:
        state = load_checkpoint(run_dir, "last")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"][rank] if isinstance(state["rng"], list) else state["rng"])
        position = dict(state["position"])
        _check_same_config(state["config"], cfg)
        log.truncate_after(position["step"])
    else:
        log.reset()

    elapsed_before = position.get("elapsed_s", 0.0)

    def elapsed() -> float:
        """Training wall time over every session of this run (resumes add up, saves do not)."""
        return elapsed_before + time.time() - started

    def save(which: str) -> None:
        rngs: list[Any] = [None] * size
        if size > 1:
            dist.all_gather_object(rngs, rng_state())
        else:
            rngs = [rng_state()]
        position["elapsed_s"] = elapsed()
        if main:
            state = {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rngs, "position": dict(position), "config": cfg.to_dict(),
                "stats": data.stats,
            }  # fmt: skip
            save_checkpoint(checkpoint_path(run_dir, which), state)

    def finish(status: str, last_val: dict[str, Any]) -> TrainResult:
        recent = (
            [r for r in read_rows(run_dir / "metrics.jsonl") if r["kind"] == "step"][-20:] if main else []
        )
        summary = {
            "status": status, "method": cfg.method, "wall_s": round(elapsed(), 2),
            "steps": position["step"], "epochs_done": position["epoch"], "world_size": size,
            "final_train_loss": float(np.mean([r["loss"] for r in recent])) if recent else None,
            "best_val_loss": None if math.isinf(position["best_val"]) else position["best_val"],
            "samples_per_s": float(np.mean([r["samples_per_s"] for r in recent])) if recent else None,
            **last_val, "data": data.stats,
        }  # fmt: skip
        if main:
            if status == "finished":
                (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            plot_run(run_dir)
        return TrainResult(run_dir, status, summary)

    if cfg.method == "random":
        metrics = validate(model, steps, data, cfg)
        log.write({"kind": "val", "epoch": 0, "step": 0, **metrics})
        save("last")
        save("best")
        return finish("finished", metrics)

    if not resuming:  # the starting point of every curve: validation before the first step
        log.write({"kind": "val", "epoch": -1, "step": 0, **validate(model, steps, data, cfg)})
    show = main and (progress if progress is not None else sys.stderr.isatty())
    bar = tqdm(total=total_steps, initial=position["step"], disable=not show, unit="step", dynamic_ncols=True)
    last_val: dict[str, Any] = {}
    model.train()
    with Interrupt() as interrupt:
        while position["epoch"] < cfg.epochs and position["step"] < total_steps:
            epoch = position["epoch"]
            order = epoch_order(cfg.seed, epoch, n_samples)
            while position["batch"] < steps_per_epoch and position["step"] < total_steps:
                tick = time.time()
                picks = order[position["batch"] * global_batch : (position["batch"] + 1) * global_batch]
                local = picks[rank * per_rank : (rank + 1) * per_rank]
                step = position["step"]
                if page_method:
                    result = steps.pages(model, data.train.take(local))
                else:
                    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + rank)
                    result = steps.items(model, data.item_rows[local], gen)
                optimizer.zero_grad(set_to_none=False)
                result.loss.backward()
                sync_gradients(model)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                scheduler.step()
                position["step"] += 1
                position["batch"] += 1
                row = _step_row(result.stats, position, scheduler, global_batch / (time.time() - tick))
                log.write(row)
                bar.set_postfix(
                    loss=f"{row['loss']:.3f}", samples_s=f"{row['samples_per_s']:.0f}", epoch=epoch
                )
                bar.update(1)
                if interrupt.agreed(device):
                    save("last")
                    bar.close()
                    print(
                        f"saved {last_path} at step {position['step']}; continue with --resume",
                        file=sys.stderr,
                    )
                    return finish("interrupted", last_val)
                if position["step"] % cfg.checkpoint_every == 0:
                    save("last")
            if position["batch"] >= steps_per_epoch:
                position["epoch"] += 1
                position["batch"] = 0
            last_val = validate(model, steps, data, cfg)
            log.write({"kind": "val", "epoch": epoch, "step": position["step"], **last_val})
            if "val_loss" in last_val and last_val["val_loss"] < position["best_val"]:
                position["best_val"] = last_val["val_loss"]
                save("best")
            save("last")
            if main:
                plot_run(run_dir)
    bar.close()
    if not checkpoint_path(run_dir, "best").exists() and main:
        save("best")
    return finish("finished", last_val)


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


def _step_row(
    stats: dict[str, float], position: dict[str, Any], scheduler: Any, samples_per_s: float
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "step", "step": position["step"], "epoch": position["epoch"], "loss": stats["loss"],
        "lr": scheduler.get_last_lr()[0], "samples_per_s": samples_per_s,
    }  # fmt: skip
    if "anchors" in stats:
        anchors = max(stats["anchors"], 1.0)
        row.update(top1=stats["top1_hits"] / anchors, chance=stats["chance"] / anchors, tau=stats["tau"])
        for key in ("page_loss", "items_loss", "users_loss"):
            row[key] = stats[key] / anchors
        if stats["auc_pairs"]:
            row["page_auc"] = stats["auc_wins"] / stats["auc_pairs"]
        if "clip_loss" in stats:
            row["clip_loss"] = stats["clip_loss"]
        row["distinct_images"] = stats["distinct"]
        row["dup_factor"] = stats["positions"] / max(stats["distinct"], 1.0)
    return row

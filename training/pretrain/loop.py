"""The training loop: data order, optimiser steps, gradient sync, validation, checkpoints, SIGINT.

Exact resume: the data order is a pure function of (seed, epoch), augmentation draws come from a
generator seeded by (seed, step, rank), and the checkpoint holds everything else (weights, optimiser,
scheduler, scaler, RNG states, `LoopState`). A run killed at any point and resumed from its last
checkpoint replays the lost steps and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from training.checkpoint import checkpoint_path
from training.distributed import process_group, sync_gradients
from training.pretrain.config import TrainConfig
from training.pretrain.pages import epoch_order
from training.pretrain.plots import plot_run
from training.pretrain.progress import StepLines, step_progress
from training.pretrain.run import Run, TrainResult, open_run
from training.pretrain.state import Interrupt
from training.pretrain.steps import StepResult
from training.pretrain.validate import validate


def train(cfg: TrainConfig, *, progress: bool | None = None) -> TrainResult:
    """Train one method; writes RUN_DIR (config.json, checkpoints, metrics.jsonl, training.png, summary.json).
    Under torchrun every rank calls this; rank 0 alone writes files."""
    with process_group(cfg.device) as (device, dist_ctx):
        run = open_run(cfg, device, dist_ctx)
        if cfg.method == "random":
            metrics = validate(run.model, run.steps, run.data, cfg)
            run.log.write({"kind": "val", "epoch": 0, "step": 0, **metrics})
            run.save("last")
            run.save("best")
            return run.finish("finished", metrics)
        if not run.resumed:  # the starting point of every curve: validation before the first step
            run.log.write(
                {"kind": "val", "epoch": -1, "step": 0, **validate(run.model, run.steps, run.data, cfg)}
            )
        with step_progress(run.total_steps, run.state.step, show=dist_ctx.is_main, bar=progress) as bar:
            return _loop(run, bar)


def _loop(run: Run, bar: tqdm | StepLines) -> TrainResult:
    cfg, state = run.cfg, run.state
    last_val: dict[str, Any] = {}
    run.model.train()
    with Interrupt() as interrupt:
        while state.epoch < cfg.epochs and state.step < run.total_steps:
            epoch = state.epoch
            order = epoch_order(cfg.seed, epoch, run.samples)
            while state.batch < run.steps_per_epoch and state.step < run.total_steps:
                tick = time.time()
                picks = order[state.batch * run.global_batch : (state.batch + 1) * run.global_batch]
                result = _step(run, run.dist_ctx.local_part(picks))
                state.step += 1
                state.batch += 1
                row = {
                    "kind": "step", "step": state.step, "epoch": state.epoch, "loss": result.stats.loss,
                    "lr": run.scheduler.get_last_lr()[0], "samples_per_s": run.global_batch / (time.time() - tick),
                    **result.stats.method_fields(),
                }  # fmt: skip
                run.log.write(row)
                bar.set_postfix(
                    loss=f"{row['loss']:.3f}", samples_s=f"{row['samples_per_s']:.0f}", epoch=epoch
                )
                bar.update(1)
                if interrupt.agreed(run.device, run.dist_ctx):
                    run.save("last")
                    bar.close()
                    print(
                        f"saved {checkpoint_path(run.run_dir, 'last')} at step {state.step}; "
                        "continue with --resume",
                        file=sys.stderr,
                    )
                    return run.finish("interrupted", last_val)
                if state.step % cfg.checkpoint_every == 0:
                    run.save("last")
            if state.batch >= run.steps_per_epoch:
                state.epoch += 1
                state.batch = 0
            last_val = validate(run.model, run.steps, run.data, cfg)
            run.log.write({"kind": "val", "epoch": epoch, "step": state.step, **last_val})
            if "val_loss" in last_val and last_val["val_loss"] < state.best_val:
                state.best_val = last_val["val_loss"]
                run.save("best")
            run.save("last")
            if run.dist_ctx.is_main:
                plot_run(run.run_dir)
    if not checkpoint_path(run.run_dir, "best").exists() and run.dist_ctx.is_main:
        run.save("best")
    return run.finish("finished", last_val)


def _step(run: Run, local: np.ndarray) -> StepResult:
    """One optimiser step on this rank's share of the global batch."""
    cfg = run.cfg
    if cfg.method == "courier":
        result = run.steps.pages(run.model, run.data.train.take(local))
    else:
        seed = cfg.seed * 1_000_003 + run.state.step * 101 + run.dist_ctx.rank
        result = run.steps.items(run.model, run.data.item_rows[local], torch.Generator().manual_seed(seed))
    run.optimizer.zero_grad(set_to_none=False)
    result.loss.backward()
    sync_gradients(run.model, run.dist_ctx)
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.optimizer.step()
    run.scheduler.step()
    return result

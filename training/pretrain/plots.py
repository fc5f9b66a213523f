"""RUN_DIR/training.png from metrics.jsonl: loss (train, validation), in-batch top-1 against chance,
and the held-out page AUC of the intention score, the taste signal (see validate.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.pretrain.runlog import read_rows  # noqa: E402


def _smooth(values: list[float], window: int = 20) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if len(arr) < window:
        return arr
    kernel = np.ones(window) / window
    return np.convolve(np.pad(arr, (window - 1, 0), mode="edge"), kernel, mode="valid")


def plot_run(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    rows = read_rows(run_dir / "metrics.jsonl")
    steps = [r for r in rows if r["kind"] == "step"]
    vals = [r for r in rows if r["kind"] == "val"]
    courier = any("top1" in r for r in steps)
    fig, axes = plt.subplots(1, 3 if courier else 2, figsize=(15 if courier else 10, 4))
    ax = axes[0]
    if steps:
        ax.plot([r["step"] for r in steps], _smooth([r["loss"] for r in steps]), label="train (smoothed)")
    with_loss = [r for r in vals if "val_loss" in r]
    if with_loss:
        ax.plot([r["step"] for r in with_loss], [r["val_loss"] for r in with_loss], "o-", label="validation")
    ax.set(title="loss", xlabel="step")
    if steps or with_loss:
        ax.legend()
    ax = axes[1]
    if vals:
        x = [r["step"] for r in vals]
        if any("val_page_auc" in r for r in vals):
            ax.plot(
                x, [r.get("val_page_auc", np.nan) for r in vals], "o-", label="intention score (learned UIR)"
            )
        ax.plot(
            x,
            [r.get("val_page_auc_plain", np.nan) for r in vals],
            "s--",
            label="plain attention (identity UIR)",
        )
    ax.axhline(0.5, color="grey", lw=0.8, label="chance")
    ax.set(title="held-out page AUC (clicked vs unclicked, same page)", xlabel="step")
    ax.legend()
    if courier:
        ax = axes[2]
        ax.plot(
            [r["step"] for r in steps], _smooth([r["top1"] for r in steps]), label="train top-1 (smoothed)"
        )
        ax.plot(
            [r["step"] for r in steps], [r["chance"] for r in steps], color="grey", lw=0.8, label="chance"
        )
        if vals:
            ax.plot([r["step"] for r in vals], [r["val_top1"] for r in vals], "o-", label="validation top-1")
        ax.set(title="in-batch top-1: clicked item from its reconstruction", xlabel="step")
        ax.legend()
    fig.tight_layout()
    out = run_dir / "training.png"
    tmp = run_dir / ".training.tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out)
    return out

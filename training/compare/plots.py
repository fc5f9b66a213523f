"""auc.png: every method's test AUC at a glance, all impressions and cold items side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_auc(rows: list[dict[str, Any]], oracle: dict[str, float] | None, seeds: int, path: Path) -> Path:
    """Bars (mean ± std over CTR seeds) per image method; none, the true-factor ceiling (synthetic worlds)
    and the oracle as reference lines."""
    methods = [r for r in rows if r["name"] != "none" and not r.get("reference")]
    none = next((r for r in rows if r["name"] == "none"), None)
    ceiling = next((r for r in rows if r.get("reference")), None)
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.3 * len(methods) + 4), 4.8), sharey=False)
    panels = (("auc", "all test impressions"), ("cold_auc", "cold items (not in the train period)"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        names = [r["name"] for r in methods]
        means = [r["mean"][key] if r["mean"][key] is not None else float("nan") for r in methods]
        stds = [r["std"][key] or 0.0 for r in methods]
        colours = ["tab:red" if r["method"] == "courier" else "tab:blue" for r in methods]
        ax.bar(range(len(names)), means, yerr=stds, capsize=4, color=colours, alpha=0.85)
        values = [m for m in means if m == m]
        refs = []
        if none is not None and none["mean"][key] is not None:
            ax.axhline(
                none["mean"][key], color="black", linestyle="--", linewidth=1.2, label="none (no images)"
            )
            refs.append(none["mean"][key])
        if ceiling is not None and ceiling["mean"][key] is not None:
            ax.axhline(
                ceiling["mean"][key],
                color="tab:purple",
                linestyle=":",
                linewidth=1.5,
                label="true factors (ceiling for any image encoder with this CTR model)",
            )
            refs.append(ceiling["mean"][key])
        if oracle is not None and oracle.get(key) is not None:
            ax.axhline(
                oracle[key], color="tab:green", linestyle="-", linewidth=1.2, label="oracle (true p_click)"
            )
            refs.append(oracle[key])
        everything = values + refs
        if everything:
            low, high = min(everything), max(everything)
            pad = max(0.005, 0.15 * (high - low))
            ax.set_ylim(
                max(0.0, low - pad - max(stds, default=0)), min(1.0, high + pad + max(stds, default=0))
            )
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel(f"test AUC (mean ± std, {seeds} CTR seeds)")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:  # one legend for both panels, below them, so it never covers a bar
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Downstream CTR AUC with each method's image embeddings")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

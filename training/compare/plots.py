"""auc.png: every method's test AUC at a glance, all impressions and cold items side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_auc(rows: list[dict[str, Any]], oracle: dict[str, float] | None, seeds: int, path: Path) -> Path:
    """Bars (mean ± std over CTR seeds) per image method; none and oracle as reference lines."""
    methods = [r for r in rows if r["name"] != "none"]
    none = next((r for r in rows if r["name"] == "none"), None)
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
        ax.legend(loc="center right", fontsize=8, framealpha=0.9)
    fig.suptitle("Downstream CTR AUC with each method's image embeddings")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""A contact sheet of a dataset: sample items with titles, and a few users' histories beside what they
clicked and skipped. The quickest way to see whether a world (or a real log) makes sense."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from courier_core.dataset import Dataset, is_url  # noqa: E402
from courier_core.images import ImageError, read_image_file  # noqa: E402
from courier_core.timeline import build_requests  # noqa: E402

_COLUMNS = 10
_CLICKED, _SKIPPED, _HISTORY = "#1a9850", "#d73027", "#4575b4"


@dataclass(frozen=True)
class PreviewConfig:
    items: int = 30
    users: int = 4
    history: int = 4  # history images shown per user (most recent)
    image_size: int = 96
    seed: int = 0


def draw_contact_sheet(dataset: Dataset, out: str | Path, config: PreviewConfig = PreviewConfig()) -> Path:
    """Write a PNG: items with titles on top, then one row per user (history | clicked | skipped)."""
    rng = np.random.default_rng(config.seed)
    items = dataset.items.iloc[np.sort(rng.permutation(len(dataset.items))[: config.items])]
    titles = dict(zip(dataset.items["item_id"], dataset.items["title"], strict=True))
    user_rows = _user_rows(dataset, config, rng)
    item_rows = -(-len(items) // _COLUMNS)
    rows = item_rows + len(user_rows)
    figure, axes = plt.subplots(rows, _COLUMNS, figsize=(1.6 * _COLUMNS, 1.95 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for k, item_id in enumerate(items["item_id"]):
        axis = axes[k // _COLUMNS, k % _COLUMNS]
        _show(axis, dataset, item_id, config.image_size)
        axis.set_title("\n".join(textwrap.wrap(titles[item_id], 18)), fontsize=7)
    for r, (caption, cells) in enumerate(user_rows):
        row = axes[item_rows + r]
        row[0].text(-0.1, 0.5, caption, transform=row[0].transAxes, ha="right", va="center", fontsize=8)
        for axis, (item_id, role, colour) in zip(row, cells, strict=False):
            _show(axis, dataset, item_id, config.image_size, frame=colour)
            label = "\n".join([role, *textwrap.wrap(titles[item_id], 20)[:2]])
            axis.set_title(label, fontsize=7, color=colour)
    figure.suptitle(
        f"{dataset.root.name}: {len(dataset.items):,} items (sample above); users below: "
        "history (blue, most recent last) | clicked (green) | skipped (red)",
        fontsize=10,
    )
    figure.tight_layout(rect=(0.06, 0, 1, 0.98))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out


def _user_rows(dataset: Dataset, config: PreviewConfig, rng: np.random.Generator) -> list[tuple[str, list]]:
    """For a few users, one page view with a history and a click: the cells to draw on their row."""
    requests = build_requests(dataset.events)
    has_click = requests["clicked"].map(lambda labels: 0 < sum(labels) < len(labels))
    candidates = requests[has_click & (requests["history"].map(len) >= 2)]
    picked = candidates.groupby("user_id", sort=True).tail(1)
    picked = picked.iloc[rng.permutation(len(picked))[: config.users]] if len(picked) else pd.DataFrame()
    rows = []
    for request in picked.itertuples():
        history = [(i, "history", _HISTORY) for i in request.history[-config.history :]]
        page = list(zip(request.item_ids, request.clicked, strict=True))
        clicked = [(i, "clicked", _CLICKED) for i, c in page if c]
        skipped = [(i, "skipped", _SKIPPED) for i, c in page if not c]
        cells = (history + clicked + skipped)[:_COLUMNS]
        rows.append((f"user {request.user_id}\n{request.request_id}", cells))
    return rows


def _show(axis: plt.Axes, dataset: Dataset, item_id: str, size: int, frame: str | None = None) -> None:
    source = dataset.image_source(item_id)
    try:
        pixels = None if is_url(source) else read_image_file(source, size)
    except ImageError:
        pixels = None
    if pixels is None:
        axis.text(0.5, 0.5, "no image", ha="center", va="center", fontsize=7)
        return
    axis.imshow(pixels)
    if frame:
        axis.axis("on")
        axis.set_xticks([])
        axis.set_yticks([])
        for spine in axis.spines.values():
            spine.set_color(frame)
            spine.set_linewidth(3)

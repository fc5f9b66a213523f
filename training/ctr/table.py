"""The plain-text table `eval` prints: one line per method, mean ± std over seeds."""

from __future__ import annotations

from typing import Any


def _missing(value: float | None) -> bool:
    return value is None or value != value  # None in JSON, NaN in memory


def _pm(mean: float | None, std: float | None) -> str:
    if _missing(mean):
        return "n/a"
    return f"{mean:.4f} ± {std or 0.0:.4f}"


def _pct(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{100 * value:.1f}%"


def metrics_rows(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(label, summary, gap) for the method, its none baseline and the oracle, in that order."""
    rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    if doc["embeddings"] is not None:
        rows.append(("none", doc["none"], None))
    rows.append((doc["method"], doc["result"], doc.get("gap_closed")))
    if doc.get("oracle"):
        rows.append(("oracle", {"mean": doc["oracle"], "std": {}}, None))
    return rows


def format_table(doc: dict[str, Any]) -> str:
    header = (
        f"{'method':<12} {'AUC':>17} {'GAUC':>17} {'cold AUC':>17} {'log-loss':>8} {'gap':>7} {'cold gap':>8}"
    )
    lines = [header, "-" * len(header)]
    for label, summary, gap in metrics_rows(doc):
        mean, std = summary["mean"], summary.get("std", {})
        logloss = mean.get("logloss")
        lines.append(
            f"{label:<12} {_pm(mean['auc'], std.get('auc')):>17} {_pm(mean['gauc'], std.get('gauc')):>17} "
            f"{_pm(mean['cold_auc'], std.get('cold_auc')):>17} "
            f"{'n/a' if _missing(logloss) else f'{logloss:.4f}':>8} "
            f"{_pct(gap['auc'] if gap else None):>7} {_pct(gap['cold_auc'] if gap else None):>8}"
        )
    return "\n".join(lines)

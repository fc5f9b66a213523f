"""report.json and report.md: the comparison table, the targets of DESIGN §7, ablations, probes and
links to each run's training curves. Figures are reported as measured, met or not."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from training.compare.plan import CompareConfig, Row

RIVALS = ("random", "simclr", "simsiam", "clip")
GAP_TARGET = 0.5


def _num(value: float | None, digits: int = 4) -> str:
    return (
        "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"
    )


def _pm(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.4f} ± {std or 0.0:.4f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def build_report(
    config: CompareConfig, rows: list[Row], outputs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The report.json document."""
    table = []
    for row in rows:
        out = outputs[row.name]
        metrics = out["metrics"]
        table.append(
            {
                "name": row.name,
                "method": row.method,
                "note": row.note,
                "mean": metrics["result"]["mean"],
                "std": metrics["result"]["std"],
                "gap_closed": metrics.get("gap_closed"),
                "dim": metrics.get("dim"),
                "pretrain_wall_s": (out["summary"] or {}).get("wall_s"),
                "eval_wall_s": metrics.get("wall_s"),
                "baseline_of": row.baseline_of,
                "reference": row.reference,
                "training_png": f"runs/{row.name}/training.png" if out.get("has_training_png") else None,
                "probes": out["probes"],
            }
        )
    none_doc = outputs["none"]["metrics"]
    return {
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "data": str(config.data.resolve()),
        "counts": {k: none_doc["fingerprint"][k] for k in ("events", "test_impressions", "cold_impressions")},
        "settings": {
            "epochs": config.epochs,
            "max_steps": config.max_steps,
            "train_args": list(config.train_args),
            "ctr_seeds": config.eval.seeds,
        },
        "oracle": none_doc.get("oracle"),
        "rows": table,
        "targets": targets(table),
    }


def _beats(a: dict[str, Any], b: dict[str, Any], key: str) -> dict[str, Any]:
    margin = a["mean"][key] - b["mean"][key]
    spread = 2 * max(a["std"][key] or 0.0, b["std"][key] or 0.0)
    return {"margin": margin, "twice_spread": spread, "met": bool(margin > spread)}


def targets(table: list[dict[str, Any]]) -> dict[str, Any] | None:
    """DESIGN §7 / issue 5: courier closes ≥ 50% of the gap and beats each rival by > 2× the seed spread."""
    by_name = {r["name"]: r for r in table}
    courier = by_name.get("courier")
    if courier is None:
        return None
    gap = (courier["gap_closed"] or {}).get("auc")
    result: dict[str, Any] = {
        "gap_closed": {"value": gap, "target": GAP_TARGET, "met": gap is not None and gap >= GAP_TARGET}
    }
    for rival in RIVALS:
        if rival in by_name:
            result[f"beats_{rival}"] = {k: _beats(courier, by_name[rival], k) for k in ("auc", "cold_auc")}
    return result


def _probe_section(report: dict[str, Any], world_present: bool) -> list[str]:
    lines = ["## What did each encoder learn?", ""]
    if not world_present:
        return [
            *lines,
            "Skipped: this dataset has no world.json (only synthetic worlds know their factors).",
            "",
        ]
    rows = [r for r in report["rows"] if r["probes"]]
    if not rows:
        return [*lines, "No probe results.", ""]
    order = {"named": 0, "unnamed": 1, "nuisance": 2}
    factors = sorted(((p["factor"], p["group"]) for p in rows[0]["probes"]), key=lambda f: order.get(f[1], 3))
    chance = {p["factor"]: p["chance"] for p in rows[0]["probes"]}
    lines += [
        "Linear probe (multinomial logistic regression, L2, standardised inputs) of each world factor from the "
        "item embedding: accuracy on 30% held-out items. Numeric nuisance factors are probed as quartiles. "
        "Chance = majority-class share of the held-out items.",
        "",
        "| method | " + " | ".join(f"{f} ({g})" for f, g in factors) + " |",
        "|---" * (len(factors) + 1) + "|",
        "| chance | " + " | ".join(_num(chance[f], 2) for f, _ in factors) + " |",
    ]
    for r in rows:
        accuracy = {p["factor"]: p["accuracy"] for p in r["probes"]}
        lines.append(f"| {r['name']} | " + " | ".join(_num(accuracy.get(f), 2) for f, _ in factors) + " |")
    return [*lines, ""]


def render_markdown(report: dict[str, Any], world_present: bool) -> str:
    seeds = report["settings"]["ctr_seeds"]
    counts = report["counts"]
    lines = [
        "# Courier comparison",
        "",
        f"Data `{report['data']}`: {counts['events']} events; test period {counts['test_impressions']} impressions, "
        f"{counts['cold_impressions']} of cold items. Pre-training: epochs {report['settings']['epochs'] or 'train default'}, "
        f"at most {report['settings'].get('max_steps') or 'unlimited'} steps, "
        f"extra flags `{' '.join(report['settings']['train_args']) or '(none)'}`. CTR model: {seeds} seeds. "
        f"Generated {report['generated_at']}.",
        "",
        f"## Downstream CTR (test period, mean ± std over {seeds} seeds)",
        "",
        "| method | AUC | GAUC | cold AUC | log-loss | gap closed (all / cold) | pre-training wall time | dim |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        m, s, gap = r["mean"], r["std"], r["gap_closed"] or {}
        name = f"{r['name']} (ceiling)" if r.get("reference") else r["name"]
        lines.append(
            f"| {name} | {_pm(m['auc'], s['auc'])} | {_pm(m['gauc'], s['gauc'])} | {_pm(m['cold_auc'], s['cold_auc'])} "
            f"| {_num(m['logloss'])} | {_pct(gap.get('auc'))} / {_pct(gap.get('cold_auc'))} "
            f"| {_wall(r['pretrain_wall_s'])} | {r['dim'] or '–'} |"
        )
    oracle = report["oracle"]
    if oracle:
        lines.append(
            f"| oracle | {_num(oracle['auc'])} | {_num(oracle['gauc'])} | {_num(oracle['cold_auc'])} "
            f"| {_num(oracle['logloss'])} | 100% | – | – |"
        )
    lines += [
        "",
        "Gap closed = (AUC_method − AUC_none) / (AUC_oracle − AUC_none).",
        _ceiling_line(report, world_present),
        "",
        "![AUC per method](auc.png)",
        "",
    ]
    lines += _target_lines(report)
    lines += _ablation_lines(report)
    lines += _probe_section(report, world_present)
    lines += ["## Training curves", ""]
    lines += [
        f"- {r['name']}: [training.png]({r['training_png']})" for r in report["rows"] if r["training_png"]
    ]
    return "\n".join(lines) + "\n"


def _ceiling_line(report: dict[str, Any], world_present: bool) -> str:
    if not world_present:
        return "The true-factor ceiling row is skipped: this dataset has no world.json (real logs)."
    ceiling = next((r for r in report["rows"] if r.get("reference")), None)
    if ceiling is None:
        return ""
    gap = ceiling["gap_closed"] or {}
    return (
        f"{ceiling['name']} (ceiling) = the world's true taste factors (one-hot category, colour, pattern, "
        f"trim) as embeddings: what a perfect image encoder could give this CTR model, "
        f"{_pct(gap.get('auc'))} of the gap ({_pct(gap.get('cold_auc'))} on cold items)."
    )


def _target_lines(report: dict[str, Any]) -> list[str]:
    t = report["targets"]
    if t is None:
        return []
    gap = t["gap_closed"]
    lines = [
        "## Targets",
        "",
        f"- COURIER closes {_pct(gap['value'])} of the none→oracle AUC gap (target ≥ {_pct(gap['target'])}): "
        f"**{'met' if gap['met'] else 'not met'}**.",
    ]
    for key, value in t.items():
        if not key.startswith("beats_"):
            continue
        parts = [
            f"{label} {v['margin']:+.4f} (2× spread {v['twice_spread']:.4f}, {'met' if v['met'] else 'not met'})"
            for label, v in (("all", value["auc"]), ("cold", value["cold_auc"]))
        ]
        lines.append(f"- COURIER vs {key.removeprefix('beats_')}: " + "; ".join(parts) + ".")
    return [*lines, ""]


def _ablation_lines(report: dict[str, Any]) -> list[str]:
    by_name = {r["name"]: r for r in report["rows"]}
    lines = []
    for r in report["rows"]:
        if r["baseline_of"] and r["baseline_of"] in by_name:
            base = by_name[r["baseline_of"]]
            lines.append(
                f"- {r['name']} — {r['note']}: AUC {r['mean']['auc'] - base['mean']['auc']:+.4f}, cold AUC "
                f"{r['mean']['cold_auc'] - base['mean']['cold_auc']:+.4f} over its starting point {base['name']}."
            )
        elif (
            r["note"]
            and r["name"] not in ("none", "courier")
            and not r.get("reference")
            and "courier" in by_name
        ):
            c = by_name["courier"]
            lines.append(
                f"- {r['name']} — {r['note']}: AUC {r['mean']['auc'] - c['mean']['auc']:+.4f}, cold AUC "
                f"{r['mean']['cold_auc'] - c['mean']['cold_auc']:+.4f} against courier."
            )
    return ["## Ablations", "", *lines, ""] if lines else []


def write_report(out: Path, report: dict[str, Any], world_present: bool) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report, world_present))

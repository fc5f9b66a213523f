"""The comparison as a whole: plan rows, run each (reusing finished steps), write report and plot."""

from __future__ import annotations

import time
from pathlib import Path

from training.compare.plan import CompareConfig, plan_rows
from training.compare.plots import plot_auc
from training.compare.report import build_report, write_report
from training.compare.runner import Layout, Runner, load_row_outputs
from training.probes import WORLD_FILE


def run_compare(config: CompareConfig) -> Path:
    """Train → embed → eval (→ probe) every row, then write report.md, report.json and auc.png."""
    started = time.perf_counter()
    world_present = (config.data / WORLD_FILE).is_file()
    rows = plan_rows(config.methods, config.ablations, with_factors=world_present)
    if not world_present:
        print(f"[compare] no {WORLD_FILE}: the true-factor ceiling row is skipped (real logs)")
    config.out.mkdir(parents=True, exist_ok=True)
    runner = Runner(config)
    for row in rows:
        runner.run_row(row)
    layout = Layout(config.out)
    outputs = {row.name: load_row_outputs(layout, row) for row in rows}
    report = build_report(config, rows, outputs)
    plot_auc(report["rows"], report["oracle"], config.eval.seeds, config.out / "auc.png")
    write_report(config.out, report, world_present=world_present)
    print(f"[compare] report written to {config.out / 'report.md'} ({time.perf_counter() - started:.1f} s)")
    return config.out / "report.md"

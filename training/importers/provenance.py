"""dataset.json: how an imported dataset was built, written by the importers and read by reports.

A number measured on an imported dataset means something different when its impressions were sampled
rather than logged; whoever reads the number (compare's report, a person) should see how the page views
and the negatives came about, and what the import skipped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

PROVENANCE_FILE = "dataset.json"


def write_provenance(out: Path, doc: dict) -> Path:
    doc = {"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **doc}
    path = out / PROVENANCE_FILE
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return path


def read_provenance(data_dir: str | Path) -> dict | None:
    """The dataset's dataset.json, or None for a dataset no importer wrote (a synthetic world)."""
    path = Path(data_dir) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def describe_dataset(data_dir: str | Path) -> list[str]:
    """Markdown lines for a report: source, page views, impressions, skips; [] without dataset.json."""
    doc = read_provenance(data_dir)
    if doc is None:
        return []
    lines = [
        f"**How this dataset was built** (`{PROVENANCE_FILE}`, importer `{doc.get('importer', '?')}`, "
        f"{doc.get('source', '?')}):",
        "",
        f"- Page views: {doc.get('page_views', '?')}.",
        f"- Impressions: {doc.get('impressions', '?')}.",
    ]
    negatives = doc.get("negatives")
    if negatives:
        lines.append(
            f"- Negatives: {negatives.get('per_page_view')} per page view, seed {negatives.get('seed')}; "
            f"{negatives.get('same_category', 0):,} from the clicked item's category, "
            f"{negatives.get('week_fallback', 0):,} from the whole week, {negatives.get('missing', 0):,} slots empty."
        )
    skipped = doc.get("skipped") or []
    total = sum(int(s.get("rows", 0)) for s in skipped)
    reasons = "; ".join(f"{s['rows']:,} {s['reason']} ({s['file']})" for s in skipped[:4])
    lines.append(f"- Skipped at import: {total:,} row(s)" + (f": {reasons}" if reasons else "") + ".")
    return [*lines, ""]

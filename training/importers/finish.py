"""The end every importer shares: page views, images settled, contract files and dataset.json written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from training.importers.catalogue import Catalogue
from training.importers.negatives import NegativeStats
from training.importers.output import Written, write_dataset
from training.importers.pages import PageConfig, Source
from training.importers.pipeline import build_page_views
from training.importers.provenance import write_provenance
from training.importers.skips import SkipLedger
from training.importers.staging import Staging

# Given the catalogue and which items the page views show, make their images usable (e.g. download
# them, rewriting catalogue.items["image"]); returns {item code: why its image is unavailable} and
# lines for the console.
Localise = Callable[[Catalogue, np.ndarray], tuple[dict[int, str], list[str]]]

SYNTHESISED_NOTE = (
    "synthesised: the unclicked items of a page view were drawn, not shown to the user, so "
    "an AUC on this dataset measures ranking against sampled negatives, not against what users saw"
)


@dataclass(frozen=True)
class ImportResult:
    out: Path
    written: Written
    negatives: NegativeStats | None
    notes: list[str] = field(default_factory=list)


def finish_import(
    *,
    out: Path,
    work: Path,
    catalogue: Catalogue,
    staging: Staging,
    pages: PageConfig,
    source: Source,
    ledger: SkipLedger,
    provenance: dict,
    localise: Localise | None = None,
) -> ImportResult:
    views = build_page_views(staging, catalogue, pages, source, ledger, work)
    failed, notes = localise(catalogue, views.shown) if localise is not None else ({}, [])
    synthesised = pages.negatives > 0
    written = write_dataset(
        out, catalogue, views.files, failed, synthesised=synthesised, source=source, ledger=ledger
    )
    negatives = views.negatives if synthesised else None
    doc = {
        **provenance,
        "impressions": SYNTHESISED_NOTE
        if synthesised
        else "logged: the unclicked rows are what users were shown",
        "negatives": _negatives_doc(pages, negatives),
        "users": {
            "min_user_events": pages.min_user_events,
            "max_users": pages.max_users,
            "eligible": views.eligible_users,
            "seed": pages.seed,
        },
        "counts": asdict(written),
        "skipped": ledger.as_json(),
        "notes": notes,
    }
    write_provenance(out, doc)
    return ImportResult(out, written, negatives, notes)


def _negatives_doc(pages: PageConfig, stats: NegativeStats | None) -> dict | None:
    if stats is None:
        return None
    return {
        "per_page_view": pages.negatives,
        "pool": "items clicked in the same Monday-based UTC week, drawn with probability proportional to "
        "their clicks that week, from the category of one of the page view's clicked items (slots cycle "
        "through the clicks); clicked items and repeats redrawn; the whole week's pool when a category "
        "has too few items",
        "seed": pages.seed,
        **asdict(stats),
    }

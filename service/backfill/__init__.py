"""Backfill job: embed a whole catalogue with the service's engine and fill the cache (docs/design.md, "Cache layout").

`run_backfill(BackfillConfig)` is the library entry; `python -m service.backfill` the command.
"""

from __future__ import annotations

from service.backfill.config import BackfillConfig
from service.backfill.run import BackfillError, run_backfill

__all__ = ["BackfillConfig", "BackfillError", "run_backfill"]

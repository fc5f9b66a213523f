"""Entry point of `python -m service.backfill`."""

from __future__ import annotations

import sys

from service.backfill.cli import main

sys.exit(main())

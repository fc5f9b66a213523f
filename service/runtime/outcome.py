"""One item's answer inside the service: a vector (cached or computed) or the `ItemError` that stopped it.

Every step that can fail one item (fetch, decode, queue deadline, inference) answers with an `Outcome`,
so an item's failure travels one way, from the step that saw it to the response.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from courier_core.errors import ItemCode, ItemError


@dataclass(frozen=True)
class Outcome:
    vector: np.ndarray | None = None
    cached: bool = False
    error: ItemError | None = None

    @classmethod
    def failed(cls, code: ItemCode, message: str) -> Outcome:
        return cls(error=ItemError(code, message))

    @property
    def label(self) -> str:
        """The `courier_items_total{outcome}` label: the error code, else cached or computed."""
        if self.error is not None:
            return str(self.error.code)
        return "cached" if self.cached else "computed"

"""What the client sends and gets back: items to embed, and results with numpy vectors.

Vectors travel as base64 little-endian float32 (the cache's layout) and come back as numpy arrays.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from courier_core.cache_keys import bytes_to_vector
from courier_core.errors import ItemError


@dataclass(frozen=True)
class ImageInput:
    """One item to embed: raw image bytes or a URL the service fetches."""

    item_id: str
    image: bytes | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.image is None) == (self.url is None):
            raise ValueError(f"{self.item_id}: give exactly one of image or url")

    def to_json(self) -> dict[str, str]:
        if self.image is not None:
            return {"item_id": self.item_id, "image_b64": base64.b64encode(self.image).decode("ascii")}
        return {"item_id": self.item_id, "image_url": str(self.url)}


@dataclass
class EmbedResult:
    """The model that answered, and per item either a vector (with whether it was cached) or a failure."""

    model: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, ItemError] = field(default_factory=dict)

    def add(self, payload: Mapping[str, Any]) -> None:
        """Merge one /embed response body (a request split over the item limit gives several)."""
        self.model = dict(payload["model"])
        for entry in payload["data"]:
            item_id = entry["item_id"]
            if "error" in entry:
                self.errors[item_id] = ItemError(entry["error"]["code"], entry["error"]["message"])
            else:
                self.vectors[item_id] = decode_vector(entry["embedding"])
                self.cached[item_id] = entry["cached"]


@dataclass
class LookupResult:
    model: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def add(self, payload: Mapping[str, Any]) -> None:
        """Merge one /embeddings:lookup response body."""
        self.model = dict(payload["model"])
        self.vectors.update({e["item_id"]: decode_vector(e["embedding"]) for e in payload["data"]})
        self.missing.extend(payload["missing"])


def decode_vector(value: str) -> np.ndarray:
    """A base64 `embedding` (the cache's little-endian float32 bytes) as a float32 vector."""
    data = base64.b64decode(value)
    vector = bytes_to_vector(data, len(data) // 4)
    if vector is None:
        raise ValueError(f"an embedding of {len(data)} bytes is not float32")
    return vector

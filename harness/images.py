"""Real image bytes (JPEG, PNG, WebP) and the /embed item that carries them."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    """A smooth random picture (gradient + noise) encoded as JPEG/PNG/WEBP."""
    rng = np.random.default_rng(seed)
    w, h = size
    gy, gx = np.mgrid[0:h, 0:w]
    base = np.stack([gx * 255 / max(w, 1), gy * 255 / max(h, 1), np.full((h, w), rng.integers(0, 255))], -1)
    pixels = np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def item(item_id: str, data: bytes) -> dict[str, str]:
    return {"item_id": item_id, "image_b64": b64(data)}

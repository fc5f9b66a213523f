"""What the service and backfill benchmarks share: photo-like JPEGs and the raw onnxruntime rate."""

from __future__ import annotations

import io
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def make_jpegs(count: int, width: int) -> list[bytes]:
    """`count` distinct photo-like JPEGs (smooth waves plus noise), width × 3/4 width, seeded."""
    rng = np.random.default_rng(0)
    height = width * 3 // 4
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(count):
        phase = rng.uniform(0, 6.28, 3)
        base = np.stack([127 + 100 * np.sin(gx / (20 + i % 17) + phase[c] + gy / 37) for c in range(3)], -1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def model_rate(session: ort.InferenceSession, size: int, batch: int, seconds: float) -> tuple[float, float]:
    """Images/s of a bare session on full batches (after a warm-up run), and CPU ms per image."""
    name = session.get_inputs()[0].name
    images = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    session.run(None, {name: images})
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        session.run(None, {name: images})
        done += batch
    return done / (time.perf_counter() - started), 1000 * (time.process_time() - cpu) / done

"""Images for the parity gate: real catalogue images from the run's dataset plus awkward generated ones.

Everything goes through courier_core.images (the one decode/resize function), so the gate checks the very
input the service will feed the graph. Generated images cover what catalogues throw at a service: not
square, tiny, huge, grayscale, alpha, palette.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from courier_core.dataset import is_url, load_dataset
from courier_core.images import decode_image, read_image_file
from model_export.defaults import DEFAULT_DATASET_IMAGES
from model_export.errors import ExportError


def odd_image_files(seed: int = 0) -> list[tuple[str, bytes]]:
    """(label, encoded bytes) of real JPEG/PNG/GIF files with awkward sizes and modes."""
    rng = np.random.default_rng(seed)
    specs = [
        ("wide_jpeg_301x97", (301, 97), "RGB", "JPEG"),
        ("tall_jpeg_83x250", (83, 250), "RGB", "JPEG"),
        ("tiny_png_3x5", (3, 5), "RGB", "PNG"),
        ("huge_jpeg_2600x1900", (2600, 1900), "RGB", "JPEG"),
        ("grayscale_jpeg_177x131", (177, 131), "L", "JPEG"),
        ("alpha_png_120x90", (120, 90), "RGBA", "PNG"),
        ("palette_gif_64x47", (64, 47), "P", "GIF"),
    ]
    files = []
    for label, (width, height), mode, fmt in specs:
        image = _textured(rng, width, height)
        if mode == "RGBA":
            alpha = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, axis=0)
            image = image.convert("RGBA")
            image.putalpha(Image.fromarray(alpha.astype(np.uint8), "L"))
        elif mode != "RGB":
            image = image.convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        files.append((label, buffer.getvalue()))
    return files


def _textured(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Smooth colour gradients plus noise: compresses like a photo, differs across images."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    freq = rng.uniform(2, 9, size=3)
    channels = [
        127 + 100 * np.sin(freq[c] * xx / max(width, 1) + phase[c]) * np.cos(freq[c] * yy / max(height, 1))
        for c in range(3)
    ]
    pixels = np.stack(channels, axis=-1) + rng.normal(0, 12, size=(height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def dataset_images(data_dir: str | Path, size: int, count: int = DEFAULT_DATASET_IMAGES) -> np.ndarray:
    """Up to `count` local catalogue images of the dataset, decoded and resized, uint8 [n, size, size, 3]."""
    if not Path(data_dir).is_dir():
        raise ExportError(
            f"the run's dataset {data_dir} (config.json data dir) does not exist; pass --data DIR to point "
            "the parity check at a copy"
        )
    dataset = load_dataset(data_dir, image_check="none")
    arrays = []
    for item_id in dataset.items["item_id"]:
        source = dataset.image_source(item_id)
        if is_url(source):
            continue
        arrays.append(read_image_file(source, size))
        if len(arrays) == count:
            break
    if not arrays:
        raise ExportError(f"the dataset {data_dir} has no local images to run the parity check on")
    return np.stack(arrays)


def parity_images(data_dir: str | Path, size: int, count: int = DEFAULT_DATASET_IMAGES) -> np.ndarray:
    """Dataset images followed by the odd generated ones, all through decode_image."""
    generated = [decode_image(data, size) for _, data in odd_image_files()]
    return np.concatenate([dataset_images(data_dir, size, count), np.stack(generated)], axis=0)

"""Crafted hostile inputs shared by the reliability tests: image files that make image libraries raise
unusual exceptions, and a seeded mutation fuzzer over real image bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from harness.images import image_bytes


def dds_file(fourcc: bytes = b"XXXX", pixel_flags: int = 0x4) -> bytes:
    """A 384-byte DDS file (a 128-byte header and 256 bytes of data) whose pixel format Pillow does not
    implement: it raises NotImplementedError, not one of its usual errors."""
    header = bytearray(128)
    header[0:4] = b"DDS "
    struct.pack_into("<7I", header, 4, 124, 0x1007, 16, 16, 0, 0, 0)
    struct.pack_into("<2I4s5I", header, 76, 32, pixel_flags, fourcc, 0, 0, 0, 0, 0)
    return bytes(header) + bytes(256)


SEED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


def seed_files() -> list[bytes]:
    """Real, small images in every format the fuzzer starts from, plus the DDS file."""
    return [image_bytes(fmt, (24, 20), seed=k) for k, fmt in enumerate(SEED_FORMATS)] + [dds_file()]


def mutations(seed: int, count: int) -> Iterator[bytes]:
    """`count` mutated copies of the seed files: flipped bits, overwritten bytes, cuts and duplicated
    spans, at random places (a fixed `seed` gives the same inputs on every run)."""
    rng = np.random.default_rng(seed)
    seeds = seed_files()
    for _ in range(count):
        data = bytearray(seeds[int(rng.integers(len(seeds)))])
        for _ in range(int(rng.integers(1, 6))):
            kind = int(rng.integers(4))
            at = int(rng.integers(len(data)))
            if kind == 0:
                data[at] ^= 1 << int(rng.integers(8))
            elif kind == 1:
                data[at] = int(rng.integers(256))
            elif kind == 2 and len(data) > 8:
                data = data[: max(8, at)]
            else:
                span = data[at : at + int(rng.integers(1, 64))]
                data[at:at] = span
        yield bytes(data)

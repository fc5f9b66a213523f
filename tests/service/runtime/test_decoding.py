"""The decode pool: every kind of source, per-item errors that survive the trip back from a worker
process, and thread and process pools giving the same pixels."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from courier_core.errors import ItemCode, ItemError
from courier_core.images import decode_image
from harness.images import b64, image_bytes
from service.runtime.decoding import DecodeLimits, DecodePool

LIMITS = DecodeLimits(size=32, max_pixels=1_000_000, max_bytes=200_000)


def decode_with(kind: str, sources: list) -> list:
    async def run() -> list:
        pool = DecodePool(1, LIMITS, kind=kind)  # type: ignore[arg-type]
        try:
            return await pool.decode(sources)
        finally:
            pool.close()

    return asyncio.run(run())


def test_thread_and_process_pools_decode_every_source_kind_alike(tmp_path: Path) -> None:
    jpeg = image_bytes(seed=1)
    (tmp_path / "file.jpg").write_bytes(jpeg)
    sources = [
        b64(jpeg),  # a request's image_b64
        jpeg,  # a fetched URL's bytes
        tmp_path / "file.jpg",  # a catalogue file
        tmp_path / "missing.jpg",
        "%%%not-base64%%%",
        b"not an image",
        b64(b"x" * 300_000),  # over max_bytes before decoding
    ]
    by_thread = decode_with("thread", sources)
    by_process = decode_with("process", sources)

    expected = decode_image(jpeg, 32)
    for results in (by_thread, by_process):
        for image in results[:3]:
            np.testing.assert_array_equal(image, expected)
        errors = results[3:]
        assert all(isinstance(e, ItemError) for e in errors)
        assert [e.code for e in errors] == [
            ItemCode.IMAGE_NOT_FOUND,
            ItemCode.IMAGE_DECODE_ERROR,
            ItemCode.IMAGE_DECODE_ERROR,
            ItemCode.IMAGE_TOO_LARGE,
        ]
    assert [type(e) for e in by_process[3:]] == [type(e) for e in by_thread[3:]]  # ImageError pickles

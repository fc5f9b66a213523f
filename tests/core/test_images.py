"""The one decode/resize function on awkward real files: every case gives RGB of the right shape or
its documented error code."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from courier_core.errors import ItemCode
from courier_core.images import ImageError, decode_image, read_image_file

SIZE = 16


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def assert_rgb(array: np.ndarray, size: int = SIZE) -> None:
    assert array.shape == (size, size, 3) and array.dtype == np.uint8


def halves(size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", size, right)
    image.paste(left, (0, 0, size[0] // 2, size[1]))
    return image


def test_grayscale_becomes_three_equal_channels():
    out = decode_image(encode(Image.new("L", (20, 30), 90), "PNG"), SIZE)
    assert_rgb(out)
    assert (out == 90).all()


def test_palette_and_palette_with_transparency():
    palette = Image.new("RGB", (20, 20), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert_rgb(out := decode_image(encode(palette, "PNG"), SIZE))
    assert np.abs(out.astype(int) - (10, 200, 30)).max() <= 2
    transparent = Image.new("P", (20, 20), 0)
    transparent.putpalette([255, 0, 0] * 256)
    out = decode_image(encode(transparent, "PNG", transparency=0), SIZE)
    assert (out == 255).all()  # fully transparent palette entry composites to white


def test_alpha_composites_on_white():
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 128))
    image.paste((0, 0, 255, 0), (0, 0, 10, 20))  # left half fully transparent
    out = decode_image(encode(image, "PNG"), 20)
    assert (out[:, :9] == 255).all()
    assert np.abs(out[:, 12:].astype(int) - (255, 127, 127)).max() <= 2


def test_cmyk_jpeg():
    out = decode_image(encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG", quality=95), SIZE)
    assert_rgb(out)
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60  # cyan-free, magenta+yellow = red


def test_sixteen_bit_png_scales_to_eight_bits():
    ramp = np.tile(np.array([0, 65535], dtype=np.uint16).repeat(10), (20, 1))
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    out = decode_image(encode(image, "PNG"), 20)
    assert_rgb(out, 20)
    assert out[:, :8].max() <= 2 and out[:, 12:].min() >= 253


def test_exif_orientation_is_applied():
    image = halves((40, 20), (230, 20, 20), (20, 20, 230))  # left red, right blue
    plain = decode_image(encode(image, "PNG"), SIZE)
    assert plain[SIZE // 2, 1, 0] > 200 and plain[SIZE // 2, -2, 2] > 200  # unrotated: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise: left becomes top
    rotated = decode_image(encode(image, "JPEG", quality=95, exif=exif.tobytes()), SIZE)
    assert_rgb(rotated)
    top, bottom = rotated[1, SIZE // 2].astype(int), rotated[-2, SIZE // 2].astype(int)
    assert top[0] > 180 and top[2] < 80, top
    assert bottom[2] > 180 and bottom[0] < 80, bottom


def test_one_pixel_and_extreme_aspect_ratio():
    assert (decode_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"), SIZE) == (1, 2, 3)).all()
    assert_rgb(decode_image(encode(Image.new("RGB", (10000, 10), (50, 60, 70)), "PNG"), SIZE))


def test_truncated_jpeg_is_a_decode_error():
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG", quality=90)
    with pytest.raises(ImageError) as caught:
        decode_image(data[: len(data) // 2], SIZE)
    assert caught.value.code == ItemCode.IMAGE_DECODE_ERROR


@pytest.mark.parametrize("data", [b"", b"GIF89a but not really an image", bytes(range(256)) * 4])
def test_empty_and_non_image_bytes_are_decode_errors(data):
    with pytest.raises(ImageError) as caught:
        decode_image(data, SIZE)
    assert caught.value.code == ItemCode.IMAGE_DECODE_ERROR


def test_decompression_bomb_is_too_large_without_decoding():
    bomb = encode(Image.new("1", (8000, 6000), 0), "PNG")  # 48 Mpx in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(ImageError) as caught:
        decode_image(bomb, SIZE)
    assert caught.value.code == ItemCode.IMAGE_TOO_LARGE


def test_header_claiming_a_huge_image_is_too_large():
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageError) as caught:
        decode_image(png, SIZE)
    assert caught.value.code == ItemCode.IMAGE_TOO_LARGE


def test_byte_limit_and_missing_file(tmp_path):
    data = encode(Image.new("RGB", (20, 20)), "PNG")
    with pytest.raises(ImageError) as caught:
        decode_image(data, SIZE, max_bytes=10)
    assert caught.value.code == ItemCode.IMAGE_TOO_LARGE
    with pytest.raises(ImageError) as caught:
        read_image_file(tmp_path / "absent.jpg", SIZE)
    assert caught.value.code == ItemCode.IMAGE_NOT_FOUND
    (tmp_path / "ok.png").write_bytes(data)
    assert_rgb(read_image_file(tmp_path / "ok.png", SIZE))

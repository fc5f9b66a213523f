"""The one image decode/resize function, shared by training, export parity, the service and backfill.

Training and serving must preprocess identically, so every path that turns bytes into model input calls
`decode_image`. Failures raise `ImageError`, an `ItemError` with a code from `courier_core.errors`, so
callers report them per item. Any exception an image plugin raises on hostile bytes becomes an
`ImageError` too (tests/reliability fuzz it), so no caller needs a catch-all of its own.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from courier_core.errors import ItemCode, ItemError

DEFAULT_MAX_PIXELS = 40_000_000
RESIZE_POLICY = "center_square_crop_resize_bilinear"
_OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>")
_DATA_URI = re.compile(r"data:[\w.+-]*/?[\w.+-]*(?:;[\w.+-]+=[\w.+-]+)*(;base64)?,", re.ASCII)
_WHITESPACE = re.compile(r"\s+", re.ASCII)


class ImageError(ItemError):
    """An image that cannot become model input: undecodable, too large or missing."""


def decode_image(
    data: bytes, size: int, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None
) -> np.ndarray:
    """Decode image bytes to a uint8 RGB array of shape (size, size, 3).

    Policy: EXIF orientation applied, every mode converted to RGB (alpha composited on white), then the
    centred square of side min(w, h) is resized to size×size, which equals "shorter side to size, centre
    crop size×size". JPEGs are decoded at a reduced scale (`draft`) when that still covers the output.
    """
    if not data:
        raise ImageError(ItemCode.IMAGE_DECODE_ERROR, "empty image (0 bytes)")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageError(ItemCode.IMAGE_TOO_LARGE, f"image is {len(data)} bytes, limit {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged file's metadata warnings are not the caller's news
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(
                    ItemCode.IMAGE_TOO_LARGE,
                    f"image is {width}x{height} = {width * height} pixels, limit {max_pixels}",
                )
            if img.format == "JPEG" and img.mode in ("RGB", "L"):
                img.draft(img.mode, (size, size))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # no copy of every image without EXIF rotation
            return _square_resize(_to_rgb(img), size)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(ItemCode.IMAGE_TOO_LARGE, _clean(exc)) from None
    except MemoryError:
        raise ImageError(
            ItemCode.IMAGE_TOO_LARGE, "decoding the image needs more memory than is free"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            ItemCode.IMAGE_DECODE_ERROR, "cannot decode image: not a recognised image format"
        ) from None
    except Exception as exc:  # what a plugin raises on hostile bytes: NotImplementedError, TypeError, ...
        raise ImageError(ItemCode.IMAGE_DECODE_ERROR, f"cannot decode image: {_clean(exc)}") from None


def _clean(exc: BaseException) -> str:
    """The exception's message without Python object reprs (`<_io.BytesIO object at 0x…>`), which mean
    nothing to a caller; the exception's type when it has no message."""
    text = _OBJECT_REPR.sub("the image", str(exc)).strip()
    return text or type(exc).__name__


def base64_image_bytes(text: str) -> bytes:
    """The bytes of a base64 image as people send it: plain, line-wrapped (MIME, PEM: 76 or 64 characters
    a line), URL-safe, unpadded, or a `data:image/...;base64,` URI. Raises `ImageError` saying what is wrong.
    """
    uri = _DATA_URI.match(text)
    if uri is not None:
        if uri.group(1) is None:
            raise ImageError(
                ItemCode.IMAGE_DECODE_ERROR,
                "image_b64 is a data: URI without ';base64': send the bytes in base64",
            )
        text = text[uri.end() :]
    compact = _WHITESPACE.sub("", text)
    compact = compact.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        bad = next((c for c in compact if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
        detail = f": it contains {bad!r}" if bad is not None else ""
        raise ImageError(ItemCode.IMAGE_DECODE_ERROR, f"image_b64 is not valid base64{detail}") from None


def read_image_file(path: str | Path, size: int, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`decode_image` on a local file; a missing file is `image_not_found`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageError(ItemCode.IMAGE_NOT_FOUND, f"no such file: {path}") from None
    except OSError as exc:
        raise ImageError(ItemCode.IMAGE_NOT_FOUND, f"cannot read {path}: {exc}") from None
    return decode_image(data, size, max_pixels=max_pixels)


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        gray = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")
    return img


def _square_resize(img: Image.Image, size: int) -> np.ndarray:
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    out = img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))

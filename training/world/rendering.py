"""Draw one item as a JPEG from its factors: shape, colour, pattern and trim, plus nuisance variation.

Drawn at twice the target size and downsampled, so edges and patterns stay legible at 32–96 px.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw

from training.world.factors import COLOURS

_SUPERSAMPLE = 2
_TRIM_WIDTH = {"none": 0.0, "thin": 0.07, "thick": 0.17}  # as a share of the shape radius
_TRIM_RGB = np.array([28, 28, 32], dtype=np.float64)


def render_item(item: Mapping[str, object], size: int, noise_seed: int) -> bytes:
    """JPEG bytes of one item; deterministic for the same factors, size and seed."""
    canvas = _SUPERSAMPLE * size
    radius = float(item["scale"]) * canvas / 2
    centre = (
        canvas / 2 + float(item["offset_x"]) * canvas,
        canvas / 2 + float(item["offset_y"]) * canvas,
    )
    angle = math.radians(float(item["rotation"]))
    polygons = _shape_polygons(str(item["category"]), centre, radius, angle)
    shape_mask = _mask(canvas, polygons)
    fill = np.clip(np.array(COLOURS[str(item["colour"])]) + np.array(item["colour_jitter"]), 0, 255)
    image = np.empty((canvas, canvas, 3), dtype=np.float64)
    image[:] = np.array(item["background"], dtype=np.float64)
    image[shape_mask] = fill
    pattern_mask = shape_mask & _pattern(str(item["pattern"]), canvas, centre, radius, angle)
    image[pattern_mask] = _ink(fill)
    trim = _TRIM_WIDTH[str(item["trim"])]
    if trim > 0:
        band = shape_mask & _outline_mask(canvas, polygons, max(1, round(trim * radius)))
        image[band] = _TRIM_RGB
    small = Image.fromarray(image.round().astype(np.uint8)).resize((size, size), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float64)
    noise = np.random.default_rng(noise_seed).normal(0.0, float(item["noise"]), pixels.shape)
    out = Image.fromarray(np.clip(pixels + noise, 0, 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=int(item["jpeg_quality"]))
    return buffer.getvalue()


def _ink(fill: np.ndarray) -> np.ndarray:
    """Pattern colour: a dark shade of a light fill, a light tint of a dark one."""
    luminance = float(fill @ np.array([0.299, 0.587, 0.114]))
    return fill * 0.35 if luminance > 110 else fill * 0.35 + 255 * 0.65


def _regular(sides: int, radius: float, start: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (
            radius * math.cos(start + 2 * math.pi * k / sides),
            radius * math.sin(start + 2 * math.pi * k / sides),
        )
        for k in range(sides)
    ]


def _unit_shape(category: str) -> list[list[tuple[float, float]]]:
    """Polygons in unit coordinates; the first is the shape, a second one is cut out of it."""
    if category == "circle":
        return [_regular(64, 1.0)]
    if category == "square":
        return [_regular(4, 1.0, math.pi / 4)]
    if category == "triangle":
        return [[(x, y + 0.2) for x, y in _regular(3, 1.15)]]
    if category == "diamond":
        return [[(0, -1.0), (0.65, 0), (0, 1.0), (-0.65, 0)]]
    if category == "pentagon":
        return [_regular(5, 1.0)]
    if category == "hexagon":
        return [_regular(6, 1.0, 0.0)]
    if category == "star":
        outer, inner = _regular(5, 1.05), _regular(5, 0.45, -math.pi / 2 + math.pi / 5)
        return [[p for pair in zip(outer, inner, strict=True) for p in pair]]
    if category == "cross":
        a, b = 0.32, 0.95
        return [
            [
                (-a, -b),
                (a, -b),
                (a, -a),
                (b, -a),
                (b, a),
                (a, a),
                (a, b),
                (-a, b),
                (-a, a),
                (-b, a),
                (-b, -a),
                (-a, -a),
            ]
        ]
    if category == "crescent":
        return [_regular(64, 1.0), [(x + 0.45, y - 0.2) for x, y in _regular(64, 0.82)]]
    raise ValueError(f"no drawing for category {category!r}")


def _shape_polygons(
    category: str, centre: tuple[float, float], radius: float, angle: float
) -> list[list[tuple[float, float]]]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [
        [
            (centre[0] + radius * (x * cos - y * sin), centre[1] + radius * (x * sin + y * cos))
            for x, y in poly
        ]
        for poly in _unit_shape(category)
    ]


def _mask(canvas: int, polygons: list[list[tuple[float, float]]]) -> np.ndarray:
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    draw.polygon(polygons[0], fill=255)
    for cut in polygons[1:]:
        draw.polygon(cut, fill=0)
    return np.asarray(image) > 127


def _outline_mask(canvas: int, polygons: list[list[tuple[float, float]]], width: int) -> np.ndarray:
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    for poly in polygons:
        draw.line([*poly, poly[0]], fill=255, width=2 * width, joint="curve")
    return np.asarray(image) > 127


@functools.cache
def _grid(canvas: int) -> np.ndarray:
    grid = np.mgrid[0:canvas, 0:canvas].astype(np.float64)
    grid.flags.writeable = False
    return grid


def _pattern(name: str, canvas: int, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """Boolean texture in the item's own frame (it rotates with the shape); period scales with the shape."""
    period = radius * 0.42
    ys, xs = _grid(canvas)
    xs, ys = xs - centre[0], ys - centre[1]
    cos, sin = math.cos(angle), math.sin(angle)
    u = (xs * cos + ys * sin) / period
    v = (-xs * sin + ys * cos) / period
    if name == "solid":
        return np.zeros((canvas, canvas), dtype=bool)
    if name == "stripes":
        return (v % 1) < 0.45
    if name == "slashes":
        return (((u + v) / math.sqrt(2)) % 1) < 0.45
    if name == "dots":
        return np.hypot(u - np.round(u), v - np.round(v)) < 0.28
    if name == "checks":
        return (np.floor(u) + np.floor(v)) % 2 == 0
    if name == "grid":
        return ((u % 1) < 0.22) | ((v % 1) < 0.22)
    if name == "waves":
        return ((v + 0.3 * np.sin(2 * math.pi * u)) % 1) < 0.42
    if name == "rings":
        return (np.hypot(u, v) % 1) < 0.45
    if name == "crosshatch":
        return ((((u + v) / math.sqrt(2)) % 1) < 0.2) | ((((u - v) / math.sqrt(2)) % 1) < 0.2)
    raise ValueError(f"no drawing for pattern {name!r}")

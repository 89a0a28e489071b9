"""kit's second embedded data set: ten classes of drawn shapes (``kit demo-data --dataset shapes``), generated with
Pillow from a seed, so kit's choices (``kit auto``'s portfolio, the combiners' honest scores) are measured on more
than the demo digits.

Each image is one shape — circle, triangle, square, pentagon, hexagon, star, cross, crescent, ellipse or arrow —
at a random size, position, rotation, aspect and brightness, filled or drawn as an outline, with a few faint
distractor strokes and pixel noise: at 28×28 the round shapes (circle, hexagon, pentagon) and the thin ones (cross,
arrow) are hard to tell apart, so the task is not saturated as the 297 test digits are.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "triangle", "square", "pentagon", "hexagon", "star", "cross", "crescent", "ellipse", "arrow")
SCALE = 4  # drawn at 4× the size, then reduced (anti-aliased edges, as a photographed shape would have)
NOISE = 32.0  # sd of the pixel noise (0–255)


def _regular(sides: int, start: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (math.cos(start + 2 * math.pi * k / sides), math.sin(start + 2 * math.pi * k / sides)) for k in range(sides)
    ]


def _star() -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius, angle = (1.0 if k % 2 == 0 else 0.42), -math.pi / 2 + math.pi * k / 5
        points.append((radius * math.cos(angle), radius * math.sin(angle)))
    return points


CROSS = [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1), (-0.3, 1), (-0.3, 0.3),
         (-1, 0.3), (-1, -0.3), (-0.3, -0.3)]  # fmt: skip
ARROW = [(-1, -0.22), (0.2, -0.22), (0.2, -0.65), (1, 0), (0.2, 0.65), (0.2, 0.22), (-1, 0.22)]
OUTLINES = {"triangle": _regular(3), "square": _regular(4, math.pi / 4), "pentagon": _regular(5),
            "hexagon": _regular(6), "star": _star(), "cross": CROSS, "arrow": ARROW}  # fmt: skip


def _place(points, centre, radius: float, angle: float, aspect: float) -> list[tuple[float, float]]:
    """``points`` (unit coordinates) squeezed by ``aspect`` along y, turned by ``angle``, scaled and moved."""
    cos, sin = math.cos(angle), math.sin(angle)
    return [
        (centre[0] + radius * (x * cos - y * aspect * sin), centre[1] + radius * (x * sin + y * aspect * cos))
        for x, y in points
    ]


def _ellipse(aspect: float) -> list[tuple[float, float]]:
    return [(math.cos(t), aspect * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 48, endpoint=False)]


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, rng: np.random.Generator, size: int) -> None:
    """One ``kind`` shape drawn on ``draw`` (``size`` pixels square at the drawing scale)."""
    radius = size * rng.uniform(0.2, 0.4)
    centre = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    angle, aspect = rng.uniform(0, 2 * math.pi), rng.uniform(0.85, 1.0)
    fill = int(rng.integers(150, 256))
    outline = rng.random() < 0.4 and kind not in ("cross", "arrow", "crescent")
    width = max(1, int(radius * rng.uniform(0.14, 0.24)))
    if kind == "crescent":
        box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
        draw.ellipse(box, fill=fill)
        shift = radius * rng.uniform(0.35, 0.6)
        inner = (centre[0] + shift * math.cos(angle), centre[1] + shift * math.sin(angle))
        draw.ellipse([inner[0] - radius, inner[1] - radius, inner[0] + radius, inner[1] + radius], fill=0)
        return
    if kind == "circle":
        unit = _ellipse(1.0)
    elif kind == "ellipse":
        unit = _ellipse(rng.uniform(0.45, 0.7))
    else:
        unit = OUTLINES[kind]
    polygon = _place(unit, centre, radius, angle, aspect)
    if outline:
        draw.line([*polygon, polygon[0]], fill=fill, width=width, joint="curve")
    else:
        draw.polygon(polygon, fill=fill)


def _distractors(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """Up to four faint short strokes anywhere in the image."""
    for _ in range(int(rng.integers(0, 5))):
        start = rng.uniform(0, size, 2)
        end = start + rng.uniform(-0.3, 0.3, 2) * size
        draw.line([tuple(start), tuple(end)], fill=int(rng.integers(60, 150)), width=int(rng.integers(2, 6)))


def shape_image(kind: str, rng: np.random.Generator, side: int = 28) -> np.ndarray:
    """One ``side``×``side`` uint8 greyscale image of a ``kind`` shape (one of :data:`SHAPES`), drawn from ``rng``."""
    size = side * SCALE
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    _distractors(draw, rng, size)
    _draw_shape(draw, kind, rng, size)
    pixels = np.asarray(canvas.resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64)
    return np.clip(np.rint(pixels + rng.normal(0, NOISE, pixels.shape)), 0, 255).astype(np.uint8)


def shape_images(shape: tuple[int, int, int], count: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` shape images of ``shape`` (height, width, channels; drawn square at the larger side, then cut to
    size) and their class indices (into :data:`SHAPES`), balanced over the classes, in a seeded random order."""
    height, width, channels = shape
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(SHAPES))
    side = max(height, width)
    images = np.stack([shape_image(SHAPES[label], rng, side)[:height, :width] for label in labels])
    return np.repeat(images[..., None], channels, axis=-1), labels.astype(np.int64)

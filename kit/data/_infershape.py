"""Tell the image shape of a pixel CSV from its pixel count and its pixels (``kit init``), saying what was chosen,
why, and how to override it.

A pixel count often fits several shapes: 768 values are 24×32 grey, 16×16 RGB stored channels last (``hwc``, the
values of each pixel together) or channels first (``chw``, all of one channel, then the next), 16×48 grey, and so on.
Every shape with sides of at least :data:`MIN_SIDE` and an aspect ratio of at most :data:`MAX_ASPECT` (one or three
channels; fewer where settings fix some keys) is a candidate, scored on a sample of rows by its neighbouring-pixel
correlation (:func:`smoothness`): the mean of the correlations between horizontally and between vertically adjacent
pixels of one channel (and, for colour, between the channels of a pixel), each row's mean removed first. Real images
are smooth, so the shape they were stored in scores clearly highest; read in a wrong shape, "neighbours" are pixels
far apart. The best is taken when it scores at least :data:`SMOOTH` and :data:`MARGIN` more than every other;
otherwise the conventional shape among those within :data:`MARGIN` of it (a square, the least elongated, channels
last, grey, wide before tall) is taken and the note says the scores were too close. Where no shape reads smooth
(noise) the conventional square is taken, and with no square nothing is guessed: one line names the keys to set.
The note lists the candidates with their scores and the ``--set image.…`` keys that override the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MIN_SIDE = 4  # each side of a candidate, at least
MAX_ASPECT = 4  # the longer side of a candidate over the shorter, at most
CHANNELS = (1, 3)  # the channel counts tried where image.channels is not given
SAMPLE_ROWS = 200  # rows scored
SMOOTH = 0.2  # the winner's correlation, at least, to decide by the pixels
MARGIN = 0.05  # the winner's lead over every other candidate, at least, to decide by the pixels
LISTED = 10  # candidates named in the note, best first
CHANNELS_TOGETHER = 0.5  # the channels of a colour reading go together (correlate) at least this much: never a loss
KEYS = ("height", "width", "channels", "order")


@dataclass(frozen=True)
class Shape:
    """One way to read a row of pixels: height × width × channels, stored ``hwc`` or ``chw``."""

    height: int
    width: int
    channels: int
    order: str = "hwc"

    def __str__(self) -> str:
        if self.channels == 1:
            return f"{self.height}×{self.width}×1"
        if self.order == "chw":
            return f"{self.channels}×{self.height}×{self.width} (channels first)"
        return f"{self.height}×{self.width}×{self.channels}"

    def table(self) -> dict[str, Any]:
        """The ``[image]`` keys of this shape (``order`` only where it is not the default)."""
        table: dict[str, Any] = {"height": self.height, "width": self.width, "channels": self.channels}
        return {**table, "order": self.order} if self.order != "hwc" else table

    def convention(self) -> tuple:
        """Sort key: the conventional reading first (a square, the least elongated, channels last, grey)."""
        return (self.height != self.width, self._elongation(), self.order != "hwc", self.channels != 1, self.height)

    def _elongation(self) -> float:
        return max(self.height, self.width) / min(self.height, self.width)


def candidates(count: int, given: dict[str, Any]) -> list[Shape]:
    """Every shape of ``count`` values that agrees with the ``given`` ``[image]`` keys, the implausible ones
    (a side under :data:`MIN_SIDE`, more elongated than :data:`MAX_ASPECT`) left out unless nothing else fits."""
    found = []
    for channels in (given["channels"],) if "channels" in given else CHANNELS:
        if not isinstance(channels, int) or channels < 1 or count % channels:
            continue
        area = count // channels
        for height in range(1, area + 1):
            if area % height:
                continue
            orders = ("hwc", "chw") if channels > 1 else ("hwc",)
            found += [Shape(height, area // height, channels, order) for order in orders]
    fits = [shape for shape in found if all(given[key] == getattr(shape, key) for key in KEYS if key in given)]
    plausible = [s for s in fits if min(s.height, s.width) >= MIN_SIDE and s._elongation() <= MAX_ASPECT]
    return sorted(plausible or fits, key=Shape.convention)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if not a.size:
        return 0.0
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    scale = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / scale if scale > 0 else 0.0


def smoothness(rows: np.ndarray, shape: Shape) -> float:
    """The neighbouring-pixel correlation of ``rows`` (one image a row, each row's mean removed) read as ``shape``:
    the mean of the horizontal and the vertical one, and for colour that of the channels of one pixel too (real colour
    channels go together; a grey image read as colour pairs pixels far apart), which only counts against the reading
    when under :data:`CHANNELS_TOGETHER`."""
    if shape.order == "chw":
        images = rows.reshape(len(rows), shape.channels, shape.height, shape.width).transpose(0, 2, 3, 1)
    else:
        images = rows.reshape(len(rows), shape.height, shape.width, shape.channels)
    scores = []
    if shape.width > 1:
        scores.append(_correlation(images[:, :, :-1], images[:, :, 1:]))
    if shape.height > 1:
        scores.append(_correlation(images[:, :-1], images[:, 1:]))
    spatial = sum(scores) / len(scores) if scores else 0.0
    if shape.channels == 1:
        return spatial
    channels = _correlation(images[..., :-1], images[..., 1:])
    with_channels = (sum(scores) + channels) / (len(scores) + 1)
    return with_channels if channels < CHANNELS_TOGETHER else max(spatial, with_channels)


def pixel_rows(frame: Any, columns: list[str] | None, string: str | None, count: int) -> np.ndarray:
    """Up to :data:`SAMPLE_ROWS` rows of pixel values as floats (each row's mean removed): from ``columns`` of
    ``frame``, or from its one ``string`` column of space-separated values (rows of another length left out)."""
    if string is not None:
        split = [str(value).split() for value in frame[string].head(SAMPLE_ROWS)]
        values = [row for row in split if len(row) == count]
        rows = np.asarray(values, dtype=np.float64).reshape(len(values), count)
    else:
        rows = frame[columns].head(SAMPLE_ROWS).to_numpy(dtype=np.float64)
    return rows - rows.mean(axis=1, keepdims=True)


def _override(given: dict[str, Any]) -> str:
    values = {"height": "H", "width": "W", "channels": "C", "order": "hwc|chw"}
    return "if wrong, pass " + " ".join(f"--set image.{key}={values[key]}" for key in KEYS if key not in given)


def _listed(scored: list[tuple[Shape, float]]) -> str:
    shown = ", ".join(f"{shape} {score:.2f}" for shape, score in scored[:LISTED])
    return shown + (f" and {len(scored) - LISTED} more below" if len(scored) > LISTED else "")


def choose_shape(
    count: int, rows: np.ndarray, given: dict[str, Any], folder: Path, source: str = ""
) -> tuple[dict[str, Any], str]:
    """The ``[image]`` keys for ``count`` pixel values per row agreeing with the ``given`` ones and the note saying how
    (see the module's docstring; ``source`` says where ``given`` came from, default the settings), or one line naming
    the keys to set when it cannot tell."""
    from kit.errors import KitError

    shown = source or ", ".join(f"image.{key} = {given[key]!r}" for key in KEYS if key in given)
    found = candidates(count, given)
    if not found:
        fits = f" with {shown}" if shown else ""
        raise KitError(
            f"{folder}: {count:,} pixel values per image fit no shape{fits}: "
            "set keys image.height, image.width and image.channels"
        )
    with_given = f" with {shown}" if shown else ""
    if len(found) == 1:
        return found[0].table(), f"image: {found[0]} — the one plausible shape of {count:,} pixels{with_given}"
    scored = sorted(((shape, smoothness(rows, shape)) for shape in found), key=lambda pair: -pair[1])
    best, top = scored[0]
    near = [shape for shape, score in scored if top - score < MARGIN] if top >= SMOOTH else found
    head = (
        f"{count:,} pixels{with_given} fit {len(found)} shapes; neighbouring-pixel correlation over "
        f"{len(rows)} rows: {_listed(scored)}"
    )
    if len(near) == 1:
        return best.table(), f"image: {best} — {head}: {best} is clearly the smoothest; {_override(given)}"
    pick = min(near, key=Shape.convention)
    if top < SMOOTH and pick.height != pick.width:
        raise KitError(
            f"{folder}: {head}: no shape reads smooth (best {top:.2f} < {SMOOTH}) and none is a square: "
            "set keys image.height, image.width and image.channels (and image.order=chw for channels first)"
        )
    close = ", ".join(map(str, sorted(near, key=Shape.convention)))
    why = f"too close to tell {close} apart" if top >= SMOOTH else f"no shape reads smooth (best {top:.2f})"
    return pick.table(), f"image: {pick} — {head}: {why}, taking the conventional {pick}; {_override(given)}"

"""Decode one image file into a ``uint8`` ``(height, width, channels)`` array of a fixed shape, with Pillow.

The EXIF orientation is honoured; every Pillow mode becomes grey (1 channel), RGB (3) or RGBA (4): a palette through
its colours, CMYK and other colour spaces through RGB, 16-bit, 32-bit and float greyscale stretched linearly from the
image's own smallest to largest value onto 0..255 (a constant image becomes 0), and transparency, where the target has
no alpha channel, composited onto black (premultiplied: colours hidden under transparent pixels never show). A JPEG much
larger than the target is decoded at a reduced scale (``draft``). ``squash`` resizes to exactly the target; ``pad``
keeps the aspect ratio, fits the image inside and fills the rest with zeros, centred. Every unreadable file is one line
naming it, never a traceback.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from kit.errors import KitError
from kit.utils._io import os_error

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")  # a GIF gives its first frame
RESIZE_MODES = ("squash", "pad")
MIN_SIDE = 2  # a side under this many pixels is never enlarged: the file holds no picture to resize
MAX_UPSCALE = 16  # refuse to enlarge a side more than this many times: the image is not of this data set's kind
DRAFT_GAP = 1.0  # a large JPEG is decoded at 1/2, 1/4 or 1/8 scale, keeping sides of at least this many targets
REDUCING_GAP = 2.0  # a large image is box-reduced by a whole factor to at least this many targets, then filtered
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_UNREADABLE = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)
_FLAT = {"1": "L", "La": "LA", "RGBa": "RGBA", "PA": "RGBA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}


def target_of(shape: tuple[int, int, int], resize: str) -> tuple[int, int, int]:
    """``shape`` checked as ``(height, width, channels)`` with channels 1, 3 or 4, and ``resize`` as a known mode."""
    try:
        height, width, channels = (int(side) for side in shape)
        valid = (height, width, channels) == tuple(shape) and height >= 1 and width >= 1 and channels in (1, 3, 4)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise KitError.invalid("shape", "(height, width, channels) with channels 1, 3 or 4", shape)
    if resize not in RESIZE_MODES:
        raise KitError.invalid("resize", " or ".join(map(repr, RESIZE_MODES)), resize)
    return height, width, channels


def decode_image(path: Path, shape: tuple[int, int, int], resize: str = "squash") -> np.ndarray:
    """The image file ``path`` as ``uint8`` ``shape`` (height, width, channels), resized by ``resize`` ("squash" or
    "pad"). A missing, unreadable, corrupt, truncated, huge or tiny file is a one-line :class:`KitError` naming it."""
    height, width, channels = target_of(shape, resize)
    path = Path(path)
    try:
        with Image.open(path) as opened:
            image = _oriented(path, opened, (width, height), resize, channels == 1)
            image = _flattened(image, channels)
            image = _resized(image, (width, height), resize)
            array = np.asarray(image)
    except KitError:
        raise
    except Image.DecompressionBombError:
        raise _too_big(path, None) from None
    except FileNotFoundError:
        raise KitError(f"{path}: not found") from None
    except OSError as error:
        if error.errno is not None:  # the file system's error (not found, permission, a folder): not Pillow's
            raise os_error(path, error, "cannot read it") from None
        raise _unreadable(path, error) from None
    except _UNREADABLE as error:
        raise _unreadable(path, error) from None
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] != channels:  # grey for an RGB(A) target repeated, an opaque alpha added for RGBA
        colour = array[:, :, :3] if array.shape[2] >= 3 else np.repeat(array[:, :, :1], 3, axis=2)
        alpha = array[:, :, -1:] if array.shape[2] in (2, 4) else np.full_like(array[:, :, :1], 255)
        array = colour if channels == 3 else np.concatenate([colour, alpha], axis=2)
    return np.ascontiguousarray(array, dtype=np.uint8)


def _unreadable(path: Path, error: BaseException) -> KitError:
    if isinstance(error, Image.UnidentifiedImageError):
        reason = "not an image format Pillow reads"
    else:
        text = " ".join(str(error).split()).rstrip(".")
        reason = "truncated file" if "truncated" in text.lower() else text or type(error).__name__
    return KitError(f"{path}: not a readable image ({reason}); replace or remove it")


def _too_big(path: Path, size: tuple[int, int] | None) -> KitError:
    found = f"{size[0]}×{size[1]} pixels, " if size else ""
    return KitError(
        f"{path}: image too large ({found}over {Image.MAX_IMAGE_PIXELS} pixels, Pillow's decompression-bomb limit); "
        "shrink it beforehand or remove it"
    )


def _oriented(path: Path, image: Image.Image, size: tuple[int, int], resize: str, grey: bool) -> Image.Image:
    """The opened ``image`` checked for size, decoded (a JPEG at a reduced scale when much larger than ``size``) and
    turned upright by its EXIF orientation."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    except _UNREADABLE:  # a damaged EXIF block: decode the pixels as stored
        orientation = None
    stored = tuple(reversed(size)) if orientation in _TRANSPOSED else size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        raise _too_big(path, image.size)
    scale = _scale(image.size, stored, resize)
    thin = any(side < MIN_SIDE and want > side for side, want in zip(image.size, stored))
    if thin or scale > MAX_UPSCALE:
        upright = image.size[::-1] if orientation in _TRANSPOSED else image.size
        raise KitError(
            f"{path}: image too small ({upright[0]}×{upright[1]} pixels, width×height) for the target "
            f"{size[0]}×{size[1]} "
            f"(sides of at least {MIN_SIDE} pixels, enlarged at most {MAX_UPSCALE}×); remove it or use a smaller shape"
        )
    if image.format == "JPEG" and scale * DRAFT_GAP <= 0.5:
        request = tuple(max(1, math.ceil(side * scale * DRAFT_GAP)) for side in image.size)
        image.draft("L" if grey and image.mode == "RGB" else None, request)
    image.load()
    if orientation in range(2, 9):
        image = ImageOps.exif_transpose(image)
    return image


def _scale(size: tuple[int, int], target: tuple[int, int], resize: str) -> float:
    """How many times the image is enlarged (over 1) or shrunk (under 1): the largest side's factor when squashed,
    the fitted factor when padded."""
    factors = (target[0] / size[0], target[1] / size[1]) if min(size) > 0 else (np.inf, np.inf)
    return max(factors) if resize == "squash" else min(factors)


def _flattened(image: Image.Image, channels: int) -> Image.Image:
    """``image`` as L, LA, RGB or RGBA, keeping no more than the target's ``channels`` need: alpha only for RGBA,
    colour only for RGB(A); transparency dropped by premultiplying (composited onto black)."""
    if image.mode == "P" or (image.mode in ("L", "RGB") and "transparency" in image.info):
        alpha = "LA" if image.mode == "L" else "RGBA"
        image = image.convert(alpha if image.has_transparency_data else "RGB")
    elif image.mode in _FLAT:
        image = image.convert(_FLAT[image.mode])
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = _stretched(image)
    if image.mode in ("LA", "RGBA") and channels != 4:
        pixels = np.asarray(image).astype(np.uint16)
        premultiplied = ((pixels[:, :, :-1] * pixels[:, :, -1:] + 127) // 255).astype(np.uint8)
        image = Image.fromarray(premultiplied[:, :, 0] if image.mode == "LA" else premultiplied)
    if channels == 1 and image.mode != "L":
        image = image.convert("L")
    return image


def _stretched(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float single-band image as L, its smallest to largest finite value stretched onto 0..255
    (not clipped: a 12-bit scan keeps its contrast); a constant image becomes 0."""
    if image.mode not in ("F", "I") and not image.mode.startswith("I;16"):
        return image.convert("RGB")  # another colour space (LAB, HSV): Pillow's conversion
    values = np.asarray(image).astype(np.float64)
    finite = np.isfinite(values)
    values = np.where(finite, values, 0.0)
    low, high = (values[finite].min(), values[finite].max()) if finite.any() else (0.0, 0.0)
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def _resized(image: Image.Image, size: tuple[int, int], resize: str) -> Image.Image:
    """``image`` at exactly ``size`` (width, height): squashed, or fitted inside and centred on zeros (``pad``)."""
    if resize == "squash":
        return _filtered(image, size)
    factor = min(size[0] / image.width, size[1] / image.height)
    fitted = (min(size[0], max(1, round(image.width * factor))), min(size[1], max(1, round(image.height * factor))))
    if fitted == size:
        return _filtered(image, size)
    canvas = Image.new(image.mode, size, 0)
    canvas.paste(_filtered(image, fitted), ((size[0] - fitted[0]) // 2, (size[1] - fitted[1]) // 2))
    return canvas


def _filtered(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` resized to ``size``: an anti-aliased Lanczos shrink (after a box reduction when much larger), a
    bicubic enlargement."""
    if image.size == size:
        return image
    if size[0] <= image.width and size[1] <= image.height:
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    return image.resize(size, Image.Resampling.BICUBIC)

"""kit.data._images.decode_image: every common format and Pillow mode to uint8 of one shape, upright, resized by
squashing or padding; every bad file one line naming it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin
from sklearn.datasets import load_digits

from kit.data._images import IMAGE_SUFFIXES, MAX_UPSCALE, decode_image
from kit.errors import KitError


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    """A real 8×8 digit enlarged to 32×24 (width×height) grey, values 0..255: asymmetric, with texture."""
    small = (load_digits().images[3] * (255 / 16)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((32, 24), Image.Resampling.NEAREST))


def quadrants(height: int = 24, width: int = 32) -> np.ndarray:
    """A grey pattern whose orientation is plain: a bright top-left block, a mid-grey top-right one, dark below."""
    upright = np.zeros((height, width), np.uint8)
    upright[: height // 2, : width // 2] = 250
    upright[: height // 2, width // 2 :] = 120
    return upright


def test_the_suffixes_are_lower_case_and_cover_the_common_formats():
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in IMAGE_SUFFIXES)
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"} <= set(IMAGE_SUFFIXES)
    assert all(suffix.lstrip(".") != "gif" or ".gif" in Image.registered_extensions() for suffix in IMAGE_SUFFIXES)


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("grey.png", "L"),
        ("rgb.png", "RGB"),
        ("rgba.png", "RGBA"),
        ("palette.png", "P"),
        ("greyalpha.png", "LA"),
        ("grey.tif", "L"),
        ("rgb.tiff", "RGB"),
        ("grey.bmp", "L"),
        ("rgb.bmp", "RGB"),
        ("rgb.webp", "RGB"),
        ("palette.gif", "P"),
        ("bilevel.png", "1"),
        ("cmyk.tif", "CMYK"),
    ],
)
def test_every_lossless_format_and_mode_gives_the_same_grey_pixels(tmp_path, digit, name, mode):
    # an opaque grey image in any mode: every target reads the same grey (exactly, but for bilevel and WebP)
    source = (digit > 127).astype(np.uint8) * 255 if mode == "1" else digit
    image = Image.fromarray(source).convert(mode)
    options = {"lossless": True} if name.endswith(".webp") else {}
    image.save(tmp_path / name, **options)
    for channels in (1, 3, 4):
        array = decode_image(tmp_path / name, (24, 32, channels))
        assert array.shape == (24, 32, channels) and array.dtype == np.uint8 and array.flags.c_contiguous
        assert np.abs(array[:, :, : min(channels, 3)].astype(int) - source[:, :, None]).max() <= 1
        if channels == 4:
            assert (array[:, :, 3] == 255).all()


def test_a_jpeg_decodes_close_to_its_source(tmp_path, digit):
    colour = np.stack([digit, 255 - digit, digit // 2], axis=2)
    Image.fromarray(colour).save(tmp_path / "photo.jpg", quality=95, subsampling=0)
    array = decode_image(tmp_path / "photo.jpg", (24, 32, 3))
    assert np.array_equal(array, np.asarray(Image.open(tmp_path / "photo.jpg")))
    assert np.abs(array.astype(int) - colour).mean() < 3


@pytest.mark.parametrize(
    ("name", "dtype"), [("deep.png", np.uint16), ("deep.tif", np.uint16), ("float.tif", np.float32)]
)
def test_deep_greyscale_is_stretched_over_its_own_range_not_clipped(tmp_path, digit, name, dtype):
    values = 1000 + digit.astype(np.float64) * 12  # a 12-bit-like scan: 1000..4060, far above 255
    Image.fromarray(values.astype(dtype)).save(tmp_path / name)
    assert Image.open(tmp_path / name).mode in ("I;16", "I;16B", "I", "F")
    array = decode_image(tmp_path / name, (24, 32, 1))[:, :, 0]
    expected = (values - values.min()) * 255 / (values.max() - values.min())
    assert array.min() == 0 and array.max() == 255
    assert np.abs(array - expected).max() <= 1


def test_a_constant_deep_image_becomes_zero(tmp_path):
    Image.fromarray(np.full((8, 8), 3000, np.uint16)).save(tmp_path / "flat.png")
    assert (decode_image(tmp_path / "flat.png", (8, 8, 3)) == 0).all()


def test_transparency_is_kept_for_rgba_and_composited_onto_black_otherwise(tmp_path):
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., :3] = (200, 100, 50)
    pixels[..., 3] = 255
    pixels[:4, :, 3] = 0  # the top half is transparent: its hidden colour must not show
    pixels[4:, :4, 3] = 128
    Image.fromarray(pixels, "RGBA").save(tmp_path / "alpha.png")
    rgba = decode_image(tmp_path / "alpha.png", (8, 8, 4))
    assert np.array_equal(rgba, pixels)
    rgb = decode_image(tmp_path / "alpha.png", (8, 8, 3))
    assert (rgb[:4] == 0).all() and (rgb[4:, 4:] == (200, 100, 50)).all()
    assert np.abs(rgb[4:, :4].astype(int) - (100, 50, 25)).max() <= 1
    grey = decode_image(tmp_path / "alpha.png", (8, 8, 1))
    assert (grey[:4] == 0).all() and grey[4:, 4:].min() > 100


def test_a_palette_with_a_transparent_colour_and_grey_with_alpha(tmp_path):
    palette = Image.new("P", (6, 6), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0, 0, 0] * 254)
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "palette.png", transparency=1)  # white is the transparent colour
    rgba = decode_image(tmp_path / "palette.png", (6, 6, 4))
    assert rgba[0, 0, 3] == 255 and (rgba[1:, :, 3] == 0).all()
    assert (decode_image(tmp_path / "palette.png", (6, 6, 3)) == 0).all()  # white under transparency never shows
    greyalpha = np.stack([np.full((4, 4), 200, np.uint8), np.full((4, 4), 51, np.uint8)], axis=2)
    Image.fromarray(greyalpha, "LA").save(tmp_path / "la.png")
    assert (decode_image(tmp_path / "la.png", (4, 4, 1)) == 40).all()
    assert np.array_equal(decode_image(tmp_path / "la.png", (4, 4, 4))[0, 0], (200, 200, 200, 51))


@pytest.mark.parametrize(("orientation", "turn"), [(6, 1), (8, -1), (3, 2)])
def test_the_exif_orientation_is_honoured(tmp_path, orientation, turn):
    upright = quadrants()
    stored = np.ascontiguousarray(np.rot90(upright, turn))  # as the camera stored it: rotated away from upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "camera.jpg", exif=exif.tobytes(), quality=95)
    array = decode_image(tmp_path / "camera.jpg", (24, 32, 1))[:, :, 0]
    assert np.abs(array.astype(int) - upright).mean() < 4
    assert array[2, 2] > 200 and 90 < array[2, 29] < 150 and array[20, 2] < 30


def test_squash_fills_the_target_and_pad_keeps_the_aspect_on_zeros(tmp_path):
    Image.new("RGB", (40, 20), (255, 255, 255)).save(tmp_path / "wide.png")
    squashed = decode_image(tmp_path / "wide.png", (32, 32, 3), "squash")
    assert (squashed == 255).all()
    padded = decode_image(tmp_path / "wide.png", (32, 32, 3), "pad")
    assert (padded[:8] == 0).all() and (padded[24:] == 0).all() and (padded[8:24] == 255).all()
    Image.new("L", (10, 30), 255).save(tmp_path / "tall.png")
    tall = decode_image(tmp_path / "tall.png", (30, 30, 1), "pad")[:, :, 0]
    assert (tall[:, :10] == 0).all() and (tall[:, 20:] == 0).all() and (tall[:, 10:20] == 255).all()


def test_a_large_jpeg_is_drafted_and_still_resized_well(tmp_path, digit, monkeypatch):
    big = np.asarray(Image.fromarray(digit).resize((512, 384), Image.Resampling.BICUBIC))
    Image.fromarray(big).convert("RGB").save(tmp_path / "big.jpg", quality=95)
    drafts = []
    original = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda self, *a: drafts.append(a) or original(self, *a))
    array = decode_image(tmp_path / "big.jpg", (24, 32, 1))[:, :, 0]
    assert drafts and drafts[0][0] == "L"  # decoded at a reduced scale, straight to grey
    reference = np.asarray(Image.fromarray(big).resize((32, 24), Image.Resampling.LANCZOS))
    assert np.abs(array.astype(int) - reference).mean() < 6


def test_enlarging_within_the_limit_works(tmp_path):
    Image.new("L", (8, 8), 90).save(tmp_path / "small.png")
    assert (decode_image(tmp_path / "small.png", (64, 64, 1)) == 90).all()  # 8× <= MAX_UPSCALE
    assert MAX_UPSCALE < 64 / 3
    Image.new("L", (5, 1), 70).save(tmp_path / "line.png")
    assert (decode_image(tmp_path / "line.png", (1, 3, 1)) == 70).all()  # a 1-pixel side not enlarged is fine


def one_line_naming(error: pytest.ExceptionInfo, path) -> str:
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.png", b"these are notes, not pixels\n", "not a readable image (not an image format Pillow reads)"),
        ("empty.jpg", b"", "not a readable image"),
    ],
)
def test_a_file_that_is_no_image_is_one_line(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(KitError) as error:
        decode_image(tmp_path / name, (8, 8, 3))
    assert expected in one_line_naming(error, tmp_path / name) and "replace or remove it" in str(error.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_truncated_file_is_one_line(tmp_path, digit, suffix):
    Image.fromarray(np.stack([digit] * 3, axis=2)).resize((128, 96)).save(tmp_path / f"whole{suffix}")
    data = (tmp_path / f"whole{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(KitError) as error:
        decode_image(tmp_path / f"cut{suffix}", (8, 8, 3))
    assert "not a readable image (truncated file); replace or remove it" in one_line_naming(error, tmp_path)


@pytest.mark.parametrize(("size", "found"), [((1, 1), "1×1 pixels"), ((3, 2), "3×2 pixels")])
def test_an_image_too_small_for_the_target_is_one_line(tmp_path, size, found):
    Image.new("L", size).save(tmp_path / "tiny.png")
    with pytest.raises(KitError) as error:
        decode_image(tmp_path / "tiny.png", (64, 64, 3))
    message = one_line_naming(error, tmp_path / "tiny.png")
    assert f"image too small ({found}, width×height) for the target 64×64" in message


def test_a_missing_file_a_folder_and_a_huge_image_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(KitError, match=r"missing\.png: not found$"):
        decode_image(tmp_path / "missing.png", (8, 8, 1))
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(KitError, match=r"folder\.png: cannot read it \(Is a directory\)"):
        decode_image(tmp_path / "folder.png", (8, 8, 1))
    Image.new("L", (40, 40)).save(tmp_path / "huge.png")
    for limit in (1000, 700):  # Pillow warns over its limit and refuses over twice it: both are one line here
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with pytest.raises(KitError) as error:
                decode_image(tmp_path / "huge.png", (8, 8, 1))
        assert "image too large" in one_line_naming(error, tmp_path / "huge.png")


@pytest.mark.parametrize(
    ("shape", "resize", "argument"),
    [
        ((8, 8, 2), "squash", "shape"),
        ((8, 8), "squash", "shape"),
        ((0, 8, 3), "pad", "shape"),
        ((8, 8, 3), "crop", "resize"),
    ],
)
def test_a_bad_target_names_the_argument(tmp_path, shape, resize, argument):
    Image.new("L", (8, 8)).save(tmp_path / "ok.png")
    with pytest.raises(KitError) as error:
        decode_image(tmp_path / "ok.png", shape, resize)
    assert error.value.argument == argument

"""report.html rendered by headless Chromium, as a Kaggler's browser shows it: a page with ink from top to bottom, the
score cards first, then the tables, the label counts (blue bars) and the confusion matrix (its red mistakes)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from test_report import fake_run

from kit.crossval import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chromium-headless-shell")
WIDTH, HEIGHT = 1280, 4000
BAND = 250  # rows of pixels looked at together


def browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    pytest.skip(f"no headless Chromium to render report.html with (none of {', '.join(BROWSERS)} on PATH)")


def screenshot(binary, page, folder) -> np.ndarray:
    """The page as headless Chromium draws it in a 1280×4000 window, as an RGB array."""
    picture = folder / "page.png"
    command = [
        binary,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        f"--user-data-dir={folder / 'profile'}",
        f"--screenshot={picture}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and picture.is_file(), done.stderr[-2000:]
    return np.asarray(Image.open(picture).convert("RGB")).astype(int)


def first_row(mask: np.ndarray, least: int = 20) -> int:
    """The first pixel row with at least ``least`` pixels of ``mask`` (the page height when none has)."""
    rows = np.flatnonzero(mask.sum(axis=1) >= least)
    return int(rows[0]) if len(rows) else mask.shape[0]


@pytest.mark.slow
def test_report_renders_with_content_from_top_to_bottom_in_order(tmp_path, tiny_dir, competition):
    binary = browser()  # skips at once without one
    folder = fake_run(tmp_path / "run", tiny_dir, competition, overrides={"train.epochs": 3})
    pixels = screenshot(binary, write_report(folder).html.resolve(), tmp_path)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    ink = (pixels < 235).any(axis=2)  # anything but white and the palest backgrounds
    assert ink.mean() > 0.03, "the page is (nearly) blank"
    bands = ink[: HEIGHT // BAND * BAND].reshape(-1, BAND, WIDTH).mean(axis=(1, 2))
    assert (bands > 0.002).all(), f"empty stretches of the page: {np.flatnonzero(bands <= 0.002) * BAND} px"
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    card = (abs(red - 0xDD) < 6) & (abs(green - 0xF4) < 6) & (blue > 248)  # the competition-metric card
    bars = (abs(red - 31) < 12) & (abs(green - 119) < 12) & (abs(blue - 180) < 12)  # matplotlib's tab:blue
    mistakes = (red > 150) & (green < 110) & (blue < 110)  # the confusion matrix's off-diagonal reds
    order = [first_row(card), first_row(bars), first_row(mistakes)]
    assert order[0] < 300 and order == sorted(order) and order[-1] < HEIGHT, order

"""benchmarks/stripes.py: a regular fine hatch scores far above the image it was laid over."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from stripes import luma, stripe_score  # noqa: E402


def photo_like(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """Luma with a natural image's 1/f amplitude spectrum and random phases, in [0, 1]."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    amplitude = 1 / np.maximum(np.hypot(fx, fy), 1 / max(h, w))
    y = np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((h, w)))).real
    return (y - y.min()) / (y.max() - y.min())


def diagonal_hatch(h: int, w: int, period: int = 4) -> np.ndarray:
    """±1 square-wave stripes along the diagonal, `period` px apart along each axis."""
    yy, xx = np.mgrid[:h, :w]
    return np.where((xx + yy) % period < period / 2, 1.0, -1.0)


def test_hatch_scores_high_and_clean_image_low():
    clean = photo_like()
    hatched = np.clip(clean + 0.04 * diagonal_hatch(*clean.shape), 0, 1)
    clean_score, hatched_score = stripe_score(clean), stripe_score(hatched)
    assert clean_score.score < 40
    assert hatched_score.score > 10 * clean_score.score
    # The peak is the hatch: period 4/√2 px across the stripes, at 45°.
    assert hatched_score.period == pytest.approx(4 / np.sqrt(2), rel=0.05)
    assert hatched_score.angle == pytest.approx(45, abs=3)


def test_periods_outside_the_band_do_not_count():
    clean = photo_like(seed=1)
    yy, xx = np.mgrid[:clean.shape[0], :clean.shape[1]]
    # A sine (no harmonics inside the band) 17 px across its stripes.
    coarse = np.clip(clean + 0.04 * np.sin(2 * np.pi * (xx + yy) / 24), 0, 1)
    assert stripe_score(coarse).score < 40


def test_jpeg_block_grid_can_be_skipped():
    clean = photo_like(seed=2)
    yy, xx = np.mgrid[:clean.shape[0], :clean.shape[1]]
    blocky = np.clip(clean + 0.04 * ((xx % 8 == 0) | (yy % 8 == 0)), 0, 1)  # an 8-px block edge grid
    assert stripe_score(blocky).score > 10 * stripe_score(clean).score
    assert stripe_score(blocky, skip_jpeg_grid=True).score < 40


def test_luma_of_grey_is_its_level():
    grey = np.full((4, 4, 3), 128, np.uint8)
    assert np.allclose(luma(grey), 128 / 255)

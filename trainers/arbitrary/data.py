"""Training pictures for the arbitrary-style network: photos and style pictures from several
folders, as random crops at several scales, flips and colour jitter.

Held-out style pictures (holdout.txt, by name and by sha256) are refused wherever they turn
up, and so is any folder named `test` (the test photos the figures are measured on).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch

from trainers.data import ImageFolderSampler, list_images

HOLDOUT_FILE = Path(__file__).with_name("holdout.txt")
TEST_FOLDER = "test"
# Colour jitter ranges (multiplicative factors, hue turn in radians).
BRIGHTNESS, CONTRAST, SATURATION, HUE = 0.2, 0.2, 0.3, 0.25


def holdout() -> dict[str, str]:
    """Held-out style pictures: name → sha256."""
    out = {}
    for line in HOLDOUT_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, digest = line.split("\t")
            out[name] = digest
    return out


def training_pictures(folders: list[str]) -> tuple[list[Path], list[Path]]:
    """(pictures to train on, held-out ones found and refused) under `folders`."""
    held = holdout()
    digests = set(held.values())
    keep, refused = [], []
    for folder in folders:
        if TEST_FOLDER in Path(folder).resolve().parts:
            raise ValueError(f"{folder}: a test folder; the figures are measured on it, never trained on")
        for p in list_images(folder):
            if p.name in held or hashlib.sha256(p.read_bytes()).hexdigest() in digests:
                refused.append(p)
            else:
                keep.append(p)
    if not keep:
        raise ValueError(f"no training pictures in {', '.join(folders)}")
    return keep, refused


class PictureSampler(ImageFolderSampler):
    """ImageFolderSampler over a list of files, with colour jitter on top of its crops."""

    def __init__(self, paths: list[Path], size: int, scale: tuple[float, float] = (0.1, 1.0),
                 max_side: int = 1024, seed: int = 0, jitter: bool = True):
        from trainers.data import read_image

        self.paths, self.images, self.skipped = [], [], []
        for p in paths:
            try:
                self.images.append((read_image(p, max_side) * 255).round().to(torch.uint8))
                self.paths.append(p)
            except (ValueError, OSError):
                self.skipped.append(p)
        if not self.images:
            raise ValueError("none of the training pictures could be decoded")
        self.size, self.scale, self.ratio, self.seed, self.jitter = size, scale, (3 / 4, 4 / 3), seed, jitter

    def batch(self, step: int, batch_size: int, rank: int = 0) -> torch.Tensor:
        x = super().batch(step, batch_size, rank)
        if not self.jitter:
            return x
        g = torch.Generator().manual_seed(hash((self.seed, step, rank, 2)) & 0x7FFF_FFFF_FFFF)
        return color_jitter(x, g)


def color_jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue per picture (N×3×H×W in [0, 1])."""
    n = x.shape[0]

    def factor(spread: float) -> torch.Tensor:
        return (1 + spread * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1))
    x = x * factor(BRIGHTNESS)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * factor(CONTRAST) + mean
    gray = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).expand_as(x)
    x = (x - gray) * factor(SATURATION) + gray
    # Hue: a turn of the chroma plane (YIQ's I and Q) about the luminance axis.
    angle = HUE * math.pi * (2 * torch.rand(n, generator=g) - 1)
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    y = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    i = 0.596 * x[:, 0] - 0.274 * x[:, 1] - 0.322 * x[:, 2]
    q = 0.211 * x[:, 0] - 0.523 * x[:, 1] + 0.312 * x[:, 2]
    i, q = i * cos - q * sin, i * sin + q * cos
    rgb = torch.stack([y + 0.956 * i + 0.621 * q, y - 0.272 * i - 0.647 * q, y - 1.106 * i + 1.703 * q], 1)
    return rgb.clamp(0, 1)

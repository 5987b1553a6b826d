"""Differentiable augmentation (Zhao et al. 2020, "DiffAugment") for small data sets.

Real and generated images pass through the same random transforms before the
discriminator, and gradients flow back through them to G: D cannot memorize the few real
images, and G is not taught to produce the augmentations (they are applied to both sides).
All ops are indexing and arithmetic, so R1's second derivative goes through them too.
Images are in [-1, 1]; randomness comes from torch's global generator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _rand(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_rand(x) - 0.5)                                          # brightness
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (_rand(x) * 2) + mean                            # saturation
    mean = x.mean([1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean                       # contrast


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shifts each image by up to `ratio` of its size; what slides in is zero (mid-grey)."""
    n, c, h, w = x.shape
    s = max(1, round(h * ratio))
    padded = F.pad(x, [s, s, s, s])
    dy = torch.randint(-s, s + 1, (n, 1, 1, 1), device=x.device)
    dx = torch.randint(-s, s + 1, (n, 1, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, 1, h, 1) + s - dy).expand(n, c, h, w + 2 * s)
    cols = (torch.arange(w, device=x.device).view(1, 1, 1, w) + s - dx).expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zeroes one square of `ratio` × the image size per image, anywhere (partly outside too)."""
    n, _, h, w = x.shape
    sh, sw = max(1, round(h * ratio)), max(1, round(w * ratio))
    y0 = torch.randint(-(sh // 2), h - sh // 2 + 1, (n, 1, 1, 1), device=x.device)
    x0 = torch.randint(-(sw // 2), w - sw // 2 + 1, (n, 1, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
    inside = (rows >= y0) & (rows < y0 + sh) & (cols >= x0) & (cols < x0 + sw)
    return x * (~inside).to(x.dtype)


class DiffAugment:
    def __init__(self, policy: tuple[str, ...] = POLICIES):
        unknown = set(policy) - set(POLICIES)
        if unknown:
            raise ValueError(f"unknown augmentation {sorted(unknown)}; choose from {', '.join(POLICIES)}")
        self.ops = [{"color": color, "translation": translation, "cutout": cutout}[p] for p in policy]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            x = op(x)
        return x

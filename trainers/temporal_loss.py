"""Temporal loss from synthetic motion, so a transform net learns to be stable without a
video data set (ideas from Gupta et al. 2017 and ReCoNet, Gao et al. 2018).

A random small homography (shift, rotation, zoom, a little perspective) moves each training
photo, and a little noise and brightness change play the camera. The flow and the
occlusion mask are then known exactly: the moved photo's stylization should equal the
moved stylization of the original wherever the moved pixel came from inside the frame.

    loss = weight · mean over valid pixels of (net(move(x) + noise) − move(net(x)))²
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SyntheticMotion:
    """Ranges of the random homographies, in fractions of the image (about a frame's motion)."""
    shift: float = 0.03          # translation, fraction of the side
    rotate_deg: float = 2.0
    zoom: float = 0.03
    perspective: float = 0.02    # keystone terms of the homography, in normalized coordinates
    noise: float = 0.02          # std of added Gaussian noise, images in [0, 1]
    brightness: float = 0.03     # ± multiplicative brightness change

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n homographies (n×3×3) mapping output coordinates to input coordinates in [-1, 1]."""
        def uniform(scale: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator) * 2 - 1) * scale
        angle = torch.deg2rad(uniform(self.rotate_deg))
        scale = 1 + uniform(self.zoom)
        h = torch.zeros(n, 3, 3)
        h[:, 0, 0], h[:, 0, 1] = scale * torch.cos(angle), -scale * torch.sin(angle)
        h[:, 1, 0], h[:, 1, 1] = scale * torch.sin(angle), scale * torch.cos(angle)
        h[:, 0, 2], h[:, 1, 2] = uniform(2 * self.shift), uniform(2 * self.shift)   # [-1, 1] spans 2
        h[:, 2, 0], h[:, 2, 1] = uniform(self.perspective), uniform(self.perspective)
        h[:, 2, 2] = 1
        return h


def homography_grid(h: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """grid_sample grid (n×H×W×2) that samples the input at H·(x, y, 1) of each output pixel."""
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx, gy, torch.ones_like(gx)], -1).reshape(1, -1, 3)     # 1×HW×3
    mapped = points @ h.transpose(1, 2)                                            # n×HW×3
    grid = mapped[..., :2] / mapped[..., 2:].clamp_min(1e-6)
    return grid.reshape(-1, height, width, 2)


def move(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=False)


def valid_mask(grid: torch.Tensor) -> torch.Tensor:
    """1 where the moved pixel came from inside the original frame (n×1×H×W)."""
    inside = (grid.abs() <= 1).all(-1)
    return inside.unsqueeze(1).float()


class TemporalLoss:
    def __init__(self, weight: float, motion: SyntheticMotion | None = None):
        self.weight, self.motion = weight, motion or SyntheticMotion()

    def pair(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The moved, noisy copy of batch `x`, with the grid and valid mask that relate them."""
        n, _, height, width = x.shape
        grid = homography_grid(self.motion.sample(n, generator), height, width).to(x.device)
        noise = torch.randn(x.shape, generator=generator).to(x.device) * self.motion.noise
        gain = 1 + (torch.rand(n, 1, 1, 1, generator=generator).to(x.device) * 2 - 1) * self.motion.brightness
        moved = (move(x.float(), grid) * gain + noise).clamp(0, 1)
        return moved.to(x.dtype), grid, valid_mask(grid)

    def __call__(self, y: torch.Tensor, y_moved: torch.Tensor, grid: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """y = net(x), y_moved = net(moved x): penalize where they disagree after moving y."""
        diff = (y_moved.float() - move(y.float(), grid)) ** 2
        return self.weight * (diff * mask).sum() / (mask.sum() * y.shape[1]).clamp_min(1)

"""Image folders as training data.

Photos are decoded once into memory (training sets here are small) and every batch is
drawn from a generator seeded by (seed, step, rank): a resumed run sees exactly the
batches the uninterrupted run would have seen, without saving any loader state.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# Photos a run needs to start; crops are drawn with replacement, so one (a texture) is enough.
MIN_PHOTOS = 1
SKIPPED_NAMES_SHOWN = 5     # unreadable photos named in the warning; the rest are counted


def read_image(path: str | Path, max_side: int | None = None) -> torch.Tensor:
    """RGB float tensor in [0, 1], shape 3×H×W; grayscale, alpha and 16-bit are normalized."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ValueError(f"cannot decode image {path}")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if max_side and max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(img.astype(np.float32) / scale)).permute(2, 0, 1)


def list_images(folder: str | Path) -> list[Path]:
    """The images under a folder, or a single image file (a texture to learn patches of)."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() in IMAGE_SUFFIXES:
        return [folder]
    if not folder.is_dir():
        raise ValueError(f"training data folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images in {folder}")
    return files


class ImageFolderSampler:
    """Random resized crops (scale and aspect jitter) and horizontal flips of a folder's photos."""

    def __init__(self, folder: str | Path, size: int, scale: tuple[float, float] = (0.25, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), max_side: int = 640, seed: int = 0):
        # An unreadable photo is skipped, not fatal: one warning names them all at once, so a
        # folder with several bad files does not take a run per file to clean up.
        self.paths, self.images, self.skipped = [], [], []
        for p in list_images(folder):
            try:
                # uint8 keeps 77 photos at 640 px around 70 MB.
                self.images.append((read_image(p, max_side) * 255).round().to(torch.uint8))
                self.paths.append(p)
            except (ValueError, OSError):
                self.skipped.append(p)
        if self.skipped:
            names = ", ".join(p.name for p in self.skipped[:SKIPPED_NAMES_SHOWN])
            more = len(self.skipped) - SKIPPED_NAMES_SHOWN
            detail = names + (f" and {more} more" if more > 0 else "")
            if len(self.images) < MIN_PHOTOS:
                raise ValueError(f"no readable photos in {folder}: {len(self.skipped)} could not be decoded ({detail})")
            print(f"warning: skipped {len(self.skipped)} unreadable photo{'s' if len(self.skipped) > 1 else ''} "
                  f"in {folder}: {detail}", file=sys.stderr)
        self.size, self.scale, self.ratio, self.seed = size, scale, ratio, seed

    def __len__(self) -> int:
        return len(self.images)

    def _crop(self, img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        _, h, w = img.shape
        area = h * w
        for _ in range(10):
            target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * torch.rand((), generator=g).item())
            log_r = math.log(self.ratio[0]) + (math.log(self.ratio[1]) - math.log(self.ratio[0])) * torch.rand((), generator=g).item()
            cw, ch = round(math.sqrt(target * math.exp(log_r))), round(math.sqrt(target / math.exp(log_r)))
            if 0 < cw <= w and 0 < ch <= h:
                break
        else:
            cw = ch = min(h, w)
        y = int(torch.randint(0, h - ch + 1, (), generator=g))
        x = int(torch.randint(0, w - cw + 1, (), generator=g))
        crop = img[:, y:y + ch, x:x + cw].float().unsqueeze(0) / 255
        crop = F.interpolate(crop, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        if torch.rand((), generator=g).item() < 0.5:
            crop = crop.flip(-1)
        return crop[0].clamp(0, 1)

    def _textured_crop(self, img: torch.Tensor, g: torch.Generator, min_std: float = 0.02) -> torch.Tensor:
        # Flat crops (a plain sky, a uniform wallpaper) teach nothing and give instance norm
        # a zero variance whose gradient is NaN; draw again, a few times at most.
        for _ in range(8):
            crop = self._crop(img, g)
            if crop.std() > min_std:
                break
        return crop

    def batch(self, step: int, batch_size: int, rank: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(hash((self.seed, step, rank)) & 0x7FFF_FFFF_FFFF)
        idx = torch.randint(0, len(self.images), (batch_size,), generator=g)
        return torch.stack([self._textured_crop(self.images[i], g) for i in idx.tolist()])

"""Fréchet distance between generated and real images, in a network's feature space.

FID proper (Heusel et al. 2017) uses Inception-v3's 2048-d pool features. Where those
weights cannot be had (offline machines), the same statistic on the spatially averaged
relu5_3 features of the VGG16 that the style losses already use is reported instead and
labelled FID-VGG16: its values are on another scale and must never be compared with FID.
Even the Inception path uses torchvision's ImageNet weights, not the TF graph of the
paper, so its values compare within this project, not with published tables.
Both are biased upward for small sample counts: compare runs at the same `samples`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

FEATURE_KINDS = ("auto", "inception", "vgg16")


class VGG16Pool:
    label, key = "FID-VGG16", "fid_vgg16"
    min_size = 64  # below this relu5_3 has under 4×4 positions

    def __init__(self, weights: str | None, device: torch.device):
        from stylenets.perceptual import VGGFeatures, load_vgg16_features

        self.net = VGGFeatures(load_vgg16_features(weights, last_layer="relu5_3"), layers=("relu5_3",)).to(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] → N × 512."""
        if images.shape[-1] < self.min_size:
            images = F.interpolate(images, size=(self.min_size, self.min_size), mode="bilinear", align_corners=False)
        return self.net(images)["relu5_3"].mean([2, 3])


class InceptionPool:
    label, key = "FID", "fid"

    def __init__(self, device: torch.device):
        import torchvision

        net = torchvision.models.inception_v3(weights=torchvision.models.Inception_V3_Weights.IMAGENET1K_V1)
        net.fc = torch.nn.Identity()
        self.net = net.eval().to(device)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net((images - self.mean) / self.std)


def feature_extractor(kind: str, vgg_weights: str | None, device: torch.device, log: Callable = print):
    """`auto`: Inception-v3 when torchvision can load its weights (cache or download), else VGG16."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"--fid-features must be one of {', '.join(FEATURE_KINDS)}")
    if kind in ("auto", "inception"):
        try:
            return InceptionPool(device)
        except Exception as exc:
            if kind == "inception":
                raise ValueError(f"cannot load torchvision's Inception-v3 weights ({exc.__class__.__name__}); "
                                 "use --fid-features vgg16") from None
            log(f"Inception-v3 weights unavailable ({exc.__class__.__name__}): reporting FID-VGG16 instead of FID")
    return VGG16Pool(vgg_weights, device)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = features.astype(np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """|mu1 − mu2|² + tr(S1 + S2 − 2 (S1 S2)^½). tr((S1 S2)^½) = tr((A S2 A)^½) with A = S1^½,
    a symmetric PSD matrix, so two symmetric eigendecompositions do it without scipy."""
    vals, vecs = np.linalg.eigh(sigma1)
    a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = np.linalg.eigvalsh(a @ sigma2 @ a)
    tr_sqrt = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(np.square(mu1 - mu2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt)


class FrechetMetric:
    """Real statistics once; `__call__(G)` generates `samples` images from fixed latents.

    `floor`: the distance between two independent real sets of the same size, i.e. what a
    perfect generator would score at this sample count (the small-sample bias).
    """

    def __init__(self, extractor, real_batches, samples: int, batch: int = 50, seed: int = 0,
                 other_real_batches=None):
        self.extractor, self.samples, self.batch, self.seed = extractor, samples, batch, seed
        self.label, self.key = extractor.label, extractor.key
        self.real = self._stats(real_batches)
        self.floor = frechet_distance(*self._stats(other_real_batches), *self.real) if other_real_batches else None

    def _stats(self, batches) -> tuple[np.ndarray, np.ndarray]:
        return statistics(torch.cat([self.extractor(b) for b in batches])[:self.samples].float().cpu().numpy())

    @torch.no_grad()
    def __call__(self, G, device: torch.device) -> float:
        g = torch.Generator().manual_seed(self.seed)
        feats = []
        for start in range(0, self.samples, self.batch):
            z = torch.randn(min(self.batch, self.samples - start), G.z_dim, generator=g).to(device)
            img = G(z, noise_mode="random").float().add(1).div(2).clamp(0, 1)
            feats.append(self.extractor(img).float().cpu())
        return frechet_distance(*statistics(torch.cat(feats).numpy()), *self.real)

"""Gatys et al. (2016) style transfer by optimization: the image itself is the parameter.

Uses the same perceptual loss as the fast-NST trainer. L-BFGS by default (converges in a
few hundred evaluations), Adam as an option; coarse-to-fine `scales` optimize a small
image first and upsample it as the start of the next, which is faster and keeps large
structures coherent.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylenets.perceptual import STYLE_LAYERS, PerceptualLoss, VGGFeatures


@dataclass
class GatysConfig:
    steps: int = 300                 # per scale: L-BFGS iterations or Adam steps
    optimizer: str = "lbfgs"         # or "adam"
    lr: float = 1.0                  # L-BFGS step size; Adam uses lr / 50
    content_layer: str = "relu3_3"
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 1e3
    scales: tuple[float, ...] = (1.0,)   # e.g. (0.5, 1.0) for coarse-to-fine
    init: str = "content"            # or "noise"
    seed: int = 0


def optimize(content: torch.Tensor, style: torch.Tensor, vgg: VGGFeatures, cfg: GatysConfig,
             on_step=None) -> torch.Tensor:
    """content, style: 1×3×H×W in [0, 1]. Returns the stylized image at content's size.
    `on_step(step, losses)` counts each scale's steps up to cfg.steps (L-BFGS reports a
    step again for each loss evaluation of its line search)."""
    if cfg.optimizer not in ("lbfgs", "adam"):
        raise ValueError("optimizer must be 'lbfgs' or 'adam'")
    loss_fn = PerceptualLoss(vgg, style, content_layer=cfg.content_layer,
                             style_layers={n: 1.0 for n in STYLE_LAYERS}, content_weight=cfg.content_weight,
                             style_weight=cfg.style_weight, tv_weight=cfg.tv_weight)
    g = torch.Generator().manual_seed(cfg.seed)
    h, w = content.shape[-2:]
    image = None
    for scale in cfg.scales:
        size = (max(16, round(h * scale)), max(16, round(w * scale)))
        target = F.interpolate(content, size=size, mode="bilinear", antialias=True, align_corners=False)
        if image is None:
            start = target if cfg.init == "content" else torch.rand(target.shape, generator=g).to(target)
        else:
            start = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
        image = _optimize_at(start.clone(), target, loss_fn, cfg, on_step)
    return image


def _optimize_at(image: torch.Tensor, content: torch.Tensor, loss_fn: PerceptualLoss, cfg: GatysConfig,
                 on_step) -> torch.Tensor:
    with torch.no_grad():
        content_features = loss_fn.vgg(content)
    image.requires_grad_(True)
    last: dict = {}

    def closure():
        opt.zero_grad()
        losses = loss_fn(image, content_features=content_features)
        losses["total"].backward()
        last.update({k: v.item() for k, v in losses.items()})
        if on_step and cfg.optimizer == "lbfgs":
            # L-BFGS runs all its iterations inside one step(); its state counts them as they go.
            on_step(opt.state[image].get("n_iter", 0), last)
        return losses["total"]

    if cfg.optimizer == "lbfgs":
        opt = torch.optim.LBFGS([image], lr=cfg.lr, max_iter=cfg.steps, history_size=50,
                                tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
        opt.step(closure)
    else:
        opt = torch.optim.Adam([image], lr=cfg.lr / 50)
        for i in range(cfg.steps):
            opt.step(closure)
            with torch.no_grad():
                image.clamp_(0, 1)
            if on_step:
                on_step(i + 1, last)
    if on_step and cfg.optimizer == "lbfgs":
        on_step(cfg.steps, last)
    return image.detach().clamp(0, 1)

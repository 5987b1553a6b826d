"""Gatys et al. (2016) style transfer by optimization: the image itself is the parameter.

The loss is the perceptual loss of the fast-NST trainer with both terms made relative (each
style layer's Gram mismatch over the painting's own ‖G‖², the content mismatch over the
content features' mean square), so every style layer counts, strokes included, and one
`balance` in [0, 1] weighs style against content whatever the layers' activation scales.
L-BFGS by default, Adam as an option; coarse-to-fine `scales` optimize a small image first and
upsample it as the start of the next: the small image paints the painting's strokes large
and keeps the picture's large structures coherent, and costs a quarter per step at half scale.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylenets.gatys_defaults import DEFAULT_BALANCE, DEFAULT_SCALES, DEFAULT_STEPS, balance_weights
from stylenets.perceptual import STYLE_LAYERS, PerceptualLoss, VGGFeatures

DEFAULT_TV_WEIGHT = 0.0


@dataclass
class GatysConfig:
    steps: int | tuple[int, ...] = DEFAULT_STEPS    # per scale (one number: each scale): L-BFGS iterations or Adam steps
    optimizer: str = "lbfgs"         # or "adam"
    lr: float = 1.0                  # L-BFGS step size; Adam uses lr / 50
    content_layer: str = "relu3_3"
    balance: float = DEFAULT_BALANCE
    tv_weight: float = DEFAULT_TV_WEIGHT
    scales: tuple[float, ...] = DEFAULT_SCALES
    # The painting is resized so that its longer side is the output's at scale 1.0 times this,
    # and keeps that size at every scale: strokes in proportion to the picture, drawn larger
    # at the coarse scales. None uses the painting at the size it is given.
    style_scale: float | None = 1.0
    init: str = "content"            # or "noise"
    seed: int = 0
    max_seconds: float | None = None  # wall-clock budget of the whole optimization; None: all the steps

    def steps_per_scale(self) -> tuple[int, ...]:
        steps = (self.steps,) * len(self.scales) if isinstance(self.steps, int) else tuple(self.steps)
        if len(steps) != len(self.scales):
            raise ValueError(f"{len(steps)} step counts for {len(self.scales)} scales")
        return steps


class _OutOfTime(Exception):
    pass


def optimize(content: torch.Tensor, style: torch.Tensor, vgg: VGGFeatures, cfg: GatysConfig,
             on_step=None) -> torch.Tensor:
    """content, style: 1×3×H×W in [0, 1]. Returns the stylized image at content's size.
    `on_step(step, losses)` counts the steps of all the scales, up to sum(cfg.steps_per_scale())
    (L-BFGS reports a step again for each loss evaluation of its line search); a scale cut
    short by `max_seconds` reports its last step."""
    if cfg.optimizer not in ("lbfgs", "adam"):
        raise ValueError("optimizer must be 'lbfgs' or 'adam'")
    steps = cfg.steps_per_scale()
    content_weight, style_weight = balance_weights(cfg.balance)
    h, w = content.shape[-2:]
    if cfg.style_scale is not None:
        side = max(16, round(max(h, w) * cfg.style_scale))
        s = side / max(style.shape[-2:])
        style = F.interpolate(style, size=(max(16, round(style.shape[-2] * s)), max(16, round(style.shape[-1] * s))),
                              mode="bilinear", antialias=True, align_corners=False)
    loss_fn = PerceptualLoss(vgg, style, content_layer=cfg.content_layer,
                             style_layers={n: 1.0 for n in STYLE_LAYERS}, content_weight=content_weight,
                             style_weight=style_weight, tv_weight=cfg.tv_weight,
                             style_loss="relative", content_loss="relative")
    g = torch.Generator().manual_seed(cfg.seed)
    # Each scale may run until its share of the time budget, in proportion to its pixels × steps.
    costs = [n * scale * scale for n, scale in zip(steps, cfg.scales)]
    start, spent = time.monotonic(), 0.0
    image = coarse_target = None
    for i, (scale, n, cost) in enumerate(zip(cfg.scales, steps, costs)):
        spent += cost
        deadline = None if cfg.max_seconds is None else start + cfg.max_seconds * spent / sum(costs)
        size = (max(16, round(h * scale)), max(16, round(w * scale)))
        target = F.interpolate(content, size=size, mode="bilinear", antialias=True, align_corners=False)
        if image is None:
            first = target if cfg.init == "content" else torch.rand(target.shape, generator=g).to(target)
        else:
            # The coarse result, with the photo's detail that the coarse size could not hold.
            detail = target - F.interpolate(coarse_target, size=size, mode="bilinear", align_corners=False)
            first = (F.interpolate(image, size=size, mode="bilinear", align_corners=False) + detail).clamp(0, 1)
        offset = sum(steps[:i])
        counted = on_step and (lambda step, losses, offset=offset: on_step(offset + step, losses))
        image = _optimize_at(first.clone(), target, loss_fn, cfg, n, deadline, counted)
        coarse_target = target
    return image


def _optimize_at(image: torch.Tensor, content: torch.Tensor, loss_fn: PerceptualLoss, cfg: GatysConfig,
                 steps: int, deadline: float | None, on_step) -> torch.Tensor:
    """The image of lowest loss seen in `steps` steps, or by `deadline` (time.monotonic())."""
    with torch.no_grad():
        content_features = loss_fn.vgg(content)
    image.requires_grad_(True)
    last: dict = {}
    best = {"loss": float("inf"), "image": image.detach().clone()}

    def closure():
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        opt.zero_grad()
        losses = loss_fn(image, content_features=content_features)
        losses["total"].backward()
        last.update({k: v.item() for k, v in losses.items()})
        if last["total"] < best["loss"]:
            # L-BFGS's line search tries points it may reject; keep the best one evaluated.
            best.update(loss=last["total"], image=image.detach().clamp(0, 1))
        if on_step and cfg.optimizer == "lbfgs":
            # L-BFGS runs all its iterations inside one step(); its state counts them as they go.
            on_step(opt.state[image].get("n_iter", 0), last)
        return losses["total"]

    try:
        if cfg.optimizer == "lbfgs":
            opt = torch.optim.LBFGS([image], lr=cfg.lr, max_iter=steps, history_size=50,
                                    tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
            opt.step(closure)
        else:
            opt = torch.optim.Adam([image], lr=cfg.lr / 50)
            for i in range(steps):
                opt.step(closure)
                with torch.no_grad():
                    image.clamp_(0, 1)
                if on_step:
                    on_step(i + 1, last)
    except _OutOfTime:
        pass
    if on_step:
        on_step(steps, last)
    return best["image"]

"""VGG16 perceptual losses, shared by every trainer and by `stylestream eval`.

Images enter as RGB in [0, 1]; ImageNet normalization happens here, once.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylenets.safe_load import load_tensors

ENV_WEIGHTS = "STYLESTREAM_VGG_WEIGHTS"

# Index of each ReLU in torchvision's vgg16().features.
LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
# How each style layer's Gram mismatch enters the loss. "mse": the squared difference,
# whose size follows each layer's activation scale (with these VGG16 weights relu2_2 takes
# about 80 % of it on a photo and relu4_3 under 0.01 %). "relative": the squared difference
# over the painting's own ‖G‖², so every layer counts alike, as `style_distances` scores them.
STYLE_LOSSES = ("mse", "relative")
# How the content mismatch enters the loss. "mse": the feature MSE, whose size follows the
# layer's activation scale. "relative": the MSE over the content features' mean square, the
# squared `style_distances` content figure, so it compares with a "relative" style loss.
CONTENT_LOSSES = ("mse", "relative")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VggWeightsError(ValueError):
    """The VGG16 weights could not be found, downloaded or read."""


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = load_tensors(path, "VGG16 weights file")
    except ValueError as exc:
        raise VggWeightsError(str(exc)) from None
    if not isinstance(state, dict):
        raise VggWeightsError(f"{path} does not hold a state dict")
    # Accept torchvision's full vgg16 state dict, its `features` part, or bare indices.
    out = {k.removeprefix("features."): v.float() for k, v in state.items() if not k.startswith("classifier.")}
    return out


def load_vgg16_features(weights: str | os.PathLike | None = None, last_layer: str = "relu4_3") -> nn.Sequential:
    """VGG16 conv layers up to `last_layer`, frozen and in eval mode.

    Weights come from, in order: the `weights` argument, the STYLESTREAM_VGG_WEIGHTS
    variable, torchvision's ImageNet download (VGG16_Weights.IMAGENET1K_V1).
    """
    import torchvision

    end = LAYERS[last_layer] + 1
    source = weights or os.environ.get(ENV_WEIGHTS)
    if source:
        features = torchvision.models.vgg16().features
        state = _load_state_dict(Path(source))
        try:
            # Only the layers we keep must be present; deeper ones may be missing.
            wanted = {k: v for k, v in features.state_dict().items() if int(k.split(".")[0]) < end}
            missing = [k for k in wanted if k not in state]
            if missing:
                raise VggWeightsError(f"{source} lacks VGG16 layers {missing[:3]}")
            for k, v in wanted.items():
                if state[k].shape != v.shape:
                    raise VggWeightsError(f"{source}: layer {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
            features.load_state_dict(state, strict=False)
        except VggWeightsError:
            raise
        except Exception as exc:
            raise VggWeightsError(f"{source} is not a VGG16 state dict: {exc}") from None
    else:
        try:
            vgg = torchvision.models.vgg16(weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1)
        except Exception as exc:
            raise VggWeightsError(
                "cannot download torchvision's VGG16 ImageNet weights "
                f"({exc.__class__.__name__}); pass --vgg-weights FILE or set {ENV_WEIGHTS}"
            ) from None
        features = vgg.features
    features = features[:end].eval()
    for p in features.parameters():
        p.requires_grad_(False)
    return features


class VGGFeatures(nn.Module):
    """Returns the named ReLU activations of VGG16 for RGB input in [0, 1]."""

    def __init__(self, features: nn.Sequential, layers: tuple[str, ...] = STYLE_LAYERS):
        super().__init__()
        self.features = features
        self.layers = {LAYERS[name]: name for name in layers}
        self.last = max(self.layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layers:
                out[self.layers[i]] = x
            if i == self.last:
                break
        return out


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Channel correlations, normalized by C·H·W; computed in float32 even under autocast."""
    b, c, h, w = f.shape
    f = f.float().reshape(b, c, h * w)
    with torch.autocast(device_type=f.device.type, enabled=False):
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between horizontally and vertically adjacent pixels."""
    x = x.float()
    dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    return dh + dw


class PerceptualLoss(nn.Module):
    """Johnson/Gatys loss: content (feature MSE), style (Gram mismatch over layers, see
    STYLE_LOSSES), total variation."""

    def __init__(
        self,
        vgg: VGGFeatures,
        style_image: torch.Tensor,
        content_layer: str = "relu2_2",
        style_layers: dict[str, float] | None = None,
        content_weight: float = 1e5,
        style_weight: float = 1e10,
        tv_weight: float = 0.0,
        style_loss: str = "mse",
        content_loss: str = "mse",
    ):
        super().__init__()
        if style_loss not in STYLE_LOSSES:
            raise ValueError(f"unknown style loss {style_loss!r}; choose from {', '.join(STYLE_LOSSES)}")
        if content_loss not in CONTENT_LOSSES:
            raise ValueError(f"unknown content loss {content_loss!r}; choose from {', '.join(CONTENT_LOSSES)}")
        self.style_loss, self.content_loss = style_loss, content_loss
        self.vgg = vgg
        self.content_layer = content_layer
        self.style_layers = style_layers or {name: 1.0 for name in STYLE_LAYERS}
        needed = set(self.style_layers) | {content_layer}
        unknown = needed - set(vgg.layers.values())
        if unknown:
            raise ValueError(f"VGGFeatures does not compute {sorted(unknown)}")
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        with torch.no_grad():
            feats = vgg(style_image)
            for name in self.style_layers:
                self.register_buffer(f"gram_{name}", gram_matrix(feats[name]).mean(0, keepdim=True))

    def style_gram(self, name: str) -> torch.Tensor:
        return getattr(self, f"gram_{name}")

    def forward(self, output: torch.Tensor, content: torch.Tensor | None = None,
                content_features: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Weighted losses; `content_features` may be passed when already computed."""
        feats = self.vgg(output)
        if content_features is None:
            with torch.no_grad():
                content_features = self.vgg(content)
        target = content_features[self.content_layer].float()
        content_loss = F.mse_loss(feats[self.content_layer].float(), target)
        if self.content_loss == "relative":
            content_loss = content_loss / target.pow(2).mean().clamp_min(1e-12)
        style_loss = output.new_zeros((), dtype=torch.float32)
        for name, w in self.style_layers.items():
            g = gram_matrix(feats[name])
            target = self.style_gram(name)
            if self.style_loss == "relative":
                mismatch = (g - target).pow(2).sum((1, 2)).mean() / target.pow(2).sum()
            else:
                mismatch = F.mse_loss(g, target.expand_as(g))
            style_loss = style_loss + w * mismatch
        tv = total_variation(output)
        losses = {
            "content": self.content_weight * content_loss,
            "style": self.style_weight * style_loss,
            "tv": self.tv_weight * tv,
        }
        losses["total"] = losses["content"] + losses["style"] + losses["tv"]
        return losses


@torch.no_grad()
def style_distances(vgg: VGGFeatures, output: torch.Tensor, content: torch.Tensor,
                    style: torch.Tensor) -> dict[str, float]:
    """Quality figures used by `stylestream eval style`.

    style: mean over relu1_2…relu4_3 of ‖G(output) − G(style)‖ / ‖G(style)‖ (Frobenius).
    content: ‖F(output) − F(content)‖ / ‖F(content)‖ at relu3_3, content resized to output size.
    """
    if content.shape[-2:] != output.shape[-2:]:
        content = F.interpolate(content, size=output.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    fo, fc, fs = vgg(output), vgg(content), vgg(style)
    rel = []
    for name in STYLE_LAYERS:
        go, gs = gram_matrix(fo[name]), gram_matrix(fs[name])
        rel.append((torch.linalg.norm(go - gs) / torch.linalg.norm(gs)).item())
    content_dist = (torch.linalg.norm(fo["relu3_3"] - fc["relu3_3"]) / torch.linalg.norm(fc["relu3_3"])).item()
    return {"style": sum(rel) / len(rel), "content": content_dist,
            **{f"style_{n}": r for n, r in zip(STYLE_LAYERS, rel)}}

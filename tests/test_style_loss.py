"""The perceptual loss's style terms: "relative" weighs every layer alike, whatever its activation scale."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from stylenets.perceptual import LAYERS, STYLE_LAYERS, PerceptualLoss, VGGFeatures
from trainers.config import TrainConfig


def tiny_features(last_layer_gain: float = 1.0) -> nn.Sequential:
    """A random stand-in for VGG16's feature stack: ReLU outputs at VGG's style-layer indices;
    `last_layer_gain` scales the convolution that feeds relu4_3 (a ReLU net is homogeneous,
    so that layer's activations scale by the same factor)."""
    torch.manual_seed(0)
    taps = sorted(LAYERS[n] for n in STYLE_LAYERS)
    layers: list[nn.Module] = [nn.Identity() for _ in range(taps[-1] + 1)]
    layers[0] = nn.Conv2d(3, 6, 3, padding=1)
    for tap in taps:  # one convolution before each tapped ReLU, so activations keep their size
        layers[tap] = nn.ReLU()
        if tap - 1 > 0:
            layers[tap - 1] = nn.Conv2d(6, 6, 3, padding=1)
    with torch.no_grad():
        layers[taps[-1] - 1].weight *= last_layer_gain
        layers[taps[-1] - 1].bias *= last_layer_gain
    return nn.Sequential(*layers).eval()


def style_loss(mode: str, gain: float) -> float:
    g = torch.Generator().manual_seed(1)
    style, output = torch.rand(1, 3, 24, 24, generator=g), torch.rand(2, 3, 24, 24, generator=g)
    loss = PerceptualLoss(VGGFeatures(tiny_features(gain)), style, style_loss=mode, content_weight=0, style_weight=1)
    return loss(output, output)["style"].item()


def test_relative_loss_does_not_depend_on_a_layers_scale():
    assert style_loss("relative", 10.0) == pytest.approx(style_loss("relative", 1.0), rel=1e-4)
    # The Gram MSE's relu4_3 term grows with the fourth power of that layer's scale.
    assert style_loss("mse", 10.0) > 2 * style_loss("mse", 1.0)


def test_relative_loss_is_each_layers_squared_distance_over_the_paintings_gram():
    g = torch.Generator().manual_seed(2)
    style, output = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 16, 16, generator=g)
    vgg = VGGFeatures(tiny_features())
    loss = PerceptualLoss(vgg, style, style_loss="relative", content_weight=0, style_weight=1)
    fo, fs = vgg(output), vgg(style)
    gram = lambda f: torch.einsum("bchw,bdhw->bcd", f, f) / f[0].numel()  # noqa: E731
    expected = sum(((gram(fo[n]) - gram(fs[n])).norm() / gram(fs[n]).norm()) ** 2 for n in STYLE_LAYERS)
    assert loss(output, output)["style"].item() == pytest.approx(expected.item(), rel=1e-4)


def test_unknown_style_loss_is_refused():
    with pytest.raises(ValueError, match="style loss"):
        PerceptualLoss(VGGFeatures(tiny_features()), torch.rand(1, 3, 16, 16), style_loss="l1")


def test_defaults_keep_the_gram_mse_and_relu2_2_content():
    cfg = TrainConfig("", "", "")
    assert (cfg.style_loss, cfg.content_layer) == ("mse", "relu2_2")

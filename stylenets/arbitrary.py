"""Arbitrary-style transfer: any picture as a style, through a light encoder/decoder with
AdaIN statistics transfer (after Huang & Belongie 2017, with a learned light encoder as in
MicroAST) and a decoder modulated by the style code.

Two parts, exported as two ONNX files:
- the style encoder runs once per style picture and gives its *style code*: the per-channel
  mean and standard deviation of the light encoder's features at ¼ and ½ resolution
  (`code_size` = 6·width floats);
- the frame net takes a frame, a style code and a strength. It encodes the frame with the
  same encoder, so the frame has a code of its own; the target code is
  strength·style + (1 − strength)·frame's own. The ¼-resolution features take the target's
  mean and deviation (AdaIN) and a small MLP turns the target code into the scale and shift
  of the decoder's instance norms. Strength 0 is the frame's own statistics (trained to give
  the frame back); a weighted average of codes mixes styles.

The per-frame cost is the compact net's (stylenets.transformer_net.CompactNet): pixel-
unshuffle to ½ resolution, depthwise-separable residual blocks at ¼, about 10 k
multiply-adds per pixel, computed on a replicate-padded margin that is cropped away.
Input and output: RGB in [0, 1], NCHW, sides multiples of 4.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylenets import folding

METHOD = "adain-light"
STATS_EPS = 1e-5
# How the decoder reaches full resolution from ½: "shuffle" computes the four sub-pixel phases
# as 12 channels at ½ and interleaves them (PixelShuffle), and each phase drifts on its own
# into a period-2 px grain under a strong style loss; "bilinear" resizes the ½-resolution
# features and convolves at full resolution (resize-convolution), which has no phases.
OUTPUTS = ("shuffle", "bilinear")
# What the style code is made of: "light" is the light encoder's statistics alone; "vgg" adds
# the style picture's per-channel mean and deviation at these VGG16 layers (the perceptual
# loss's own features, the trainer has them already), which a second MLP turns into a
# strength-scaled correction of the decoder's modulation. The encoder file then holds VGG16
# up to relu3_3 (about 7 MB); the frame net is the same size either way.
CODES = ("light", "vgg")
VGG_CODE_LAYERS = {"relu1_2": 64, "relu2_2": 128, "relu3_3": 256}


def channel_stats(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and standard deviation over the picture, in float32."""
    f = f.float()
    mean = f.mean((2, 3))
    std = (f.var((2, 3), unbiased=False) + STATS_EPS).sqrt()
    return mean, std


def _separable(channels: int) -> list[nn.Module]:
    return [nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.Conv2d(channels, channels, 1)]


class EncoderBlock(nn.Module):
    """Depthwise-separable residual block without normalisation: the statistics it leaves
    are what the style code is made of."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*_separable(channels), nn.ReLU(inplace=True), *_separable(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def modulated_norm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Instance norm whose affine parameters come from the style code (N×C each, or 1×C)."""
    y = F.instance_norm(x.float(), eps=STATS_EPS)
    return (y * (1 + scale[..., None, None]) + shift[..., None, None]).to(x.dtype)


class DecoderBlock(nn.Module):
    """The compact net's depthwise residual block with code-modulated instance norms."""

    def __init__(self, channels: int):
        super().__init__()
        self.a = nn.Sequential(*_separable(channels))
        self.b = nn.Sequential(*_separable(channels))
        self.channels = channels

    def forward(self, x: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        s1, b1, s2, b2 = params
        y = F.relu(modulated_norm(self.a(x), s1, b1))
        return x + modulated_norm(self.b(y), s2, b2)


class Encoder(nn.Module):
    """Frame or style picture → (½-resolution features, ¼-resolution features)."""

    def __init__(self, width: int, blocks: int):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(2)
        self.to_half = nn.Sequential(nn.Conv2d(12, width, 3, padding=1), nn.ReLU(inplace=True))
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[EncoderBlock(2 * width) for _ in range(blocks)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.to_half(self.unshuffle(x))
        return half, self.blocks(self.down(half))


class ArbitraryStyleNet(nn.Module):
    """The encoder, the AdaIN bottleneck, the code → modulation MLP and the decoder.
    `width`: channels at ½ resolution (¼ has twice as many)."""

    arch = METHOD
    margin = 16     # as CompactNet: zero padding's border band is computed on a margin and cropped

    def __init__(self, width: int = 32, enc_blocks: int = 2, dec_blocks: int = 3, hidden: int = 128,
                 output: str = "shuffle", code: str = "light"):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}")
        if code not in CODES:
            raise ValueError(f"code must be one of {CODES}")
        self.code = code
        self.width, self.enc_blocks, self.dec_blocks, self.hidden = width, enc_blocks, dec_blocks, hidden
        self.output = output
        w = width
        self.encoder = Encoder(w, enc_blocks)
        self.blocks = nn.ModuleList([DecoderBlock(2 * w) for _ in range(dec_blocks)])
        self.upsample = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.up_conv = nn.Conv2d(2 * w, w, 3, padding=1)
        if output == "shuffle":
            self.out_conv, self.shuffle = nn.Conv2d(w, 12, 3, padding=1), nn.PixelShuffle(2)
        else:
            self.out_up = nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False)
            self.out_conv = nn.Conv2d(w, 3, 3, padding=1)
        # Scale and shift for each modulated norm: four per decoder block, two after up_conv.
        self.param_sizes = [2 * w] * (4 * dec_blocks) + [w, w]
        self.mlp = nn.Sequential(nn.Linear(6 * w, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, sum(self.param_sizes)))
        with torch.no_grad():  # start as plain instance norms
            self.mlp[-1].weight.mul_(0.01)
            self.mlp[-1].bias.zero_()
        if code == "vgg":
            self.vgg_mlp = nn.Sequential(nn.Linear(2 * sum(VGG_CODE_LAYERS.values()), hidden), nn.ReLU(inplace=True),
                                         nn.Linear(hidden, sum(self.param_sizes)))
            with torch.no_grad():  # start as the light-code network it may be initialised from
                self.vgg_mlp[-1].weight.zero_()
                self.vgg_mlp[-1].bias.zero_()

    @property
    def code_size(self) -> int:
        return 6 * self.width + (2 * sum(VGG_CODE_LAYERS.values()) if self.code == "vgg" else 0)

    def config(self) -> dict:
        # "output" and "code" are left out at their first values, so configurations written
        # before the options existed still name this architecture.
        return {"arch": self.arch, "width": self.width, "enc_blocks": self.enc_blocks,
                "dec_blocks": self.dec_blocks, "hidden": self.hidden,
                **({"output": self.output} if self.output != "shuffle" else {}),
                **({"code": self.code} if self.code != "light" else {})}

    @staticmethod
    def code_of(half: torch.Tensor, quarter: torch.Tensor) -> torch.Tensor:
        """Style code from the encoder's features: [mean¼, std¼, mean½, std½]."""
        (mq, sq), (mh, sh) = channel_stats(quarter), channel_stats(half)
        return torch.cat([mq, sq, mh, sh], 1)

    def style_code(self, picture: torch.Tensor, vgg_features: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """N×3×H×W style pictures → N×code_size codes. A "vgg" code needs the pictures'
        VGG16 features (stylenets.perceptual.VGGFeatures) at VGG_CODE_LAYERS."""
        light = self.code_of(*self.encoder(picture))
        if self.code == "light":
            return light
        if vgg_features is None:
            raise ValueError("a vgg-code network needs the style pictures' VGG16 features")
        return torch.cat([light, *(torch.cat(channel_stats(vgg_features[n]), 1) for n in VGG_CODE_LAYERS)], 1)

    def _modulation(self, light: torch.Tensor, vgg: torch.Tensor, strength: torch.Tensor) -> list[torch.Tensor]:
        # The MLPs see logarithms: a code's deviations (and VGG's means) span orders of magnitude.
        w = self.width
        x = torch.cat([light[:, :2 * w], light[:, 2 * w:4 * w].log(), light[:, 4 * w:5 * w], light[:, 5 * w:].log()], 1)
        params = self.mlp(x)
        if self.code == "vgg":
            # Scaled by the strength: at 0 the frame's own light code alone, as trained for identity.
            params = params + strength * self.vgg_mlp((vgg.float() + 1e-2).log())
        return list(params.split(self.param_sizes, 1))

    def forward(self, x: torch.Tensor, code: torch.Tensor, strength: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Frames N×3×H×W, codes N×K or 1×K, strength a number or N×1 / 1-element tensor."""
        m = self.margin
        padded = F.pad(x, (m, m, m, m), mode="replicate")
        half, quarter = self.encoder(padded)
        own = self.code_of(half, quarter)
        if not torch.is_tensor(strength):
            strength = torch.tensor(float(strength), device=x.device)
        strength = strength.float().reshape(-1, 1)
        light, vgg = code.float()[:, :own.shape[1]], code.float()[:, own.shape[1]:]
        target = strength * light + (1 - strength) * own
        c = 2 * self.width
        mean_c, std_c = own[:, :c], own[:, c:2 * c]
        mean_t, std_t = target[:, :c], target[:, c:2 * c]
        f = (quarter.float() - mean_c[..., None, None]) / std_c[..., None, None]
        f = (f * std_t[..., None, None] + mean_t[..., None, None]).to(quarter.dtype)
        params = self._modulation(target, vgg, strength)
        for i, block in enumerate(self.blocks):
            f = block(f, params[4 * i:4 * i + 4])
        s, b = params[-2:]
        f = F.relu(modulated_norm(self.up_conv(self.upsample(f)), s, b))
        y = self.shuffle(self.out_conv(f)) if self.output == "shuffle" else self.out_conv(self.out_up(f))
        return torch.sigmoid(y)[..., m:-m, m:-m]

    def folded(self) -> nn.Module:
        """An equal copy in the inference form (as CompactNet.folded): the upsampling and its
        convolution as four low-resolution 2×2 convolutions, the unshuffle as SpaceToDepth."""
        net = copy.deepcopy(self)
        net.upsample = nn.Identity()
        net.up_conv = folding.PhaseUpsampleConv(self.up_conv)
        net.encoder.unshuffle = folding.SpaceToDepth()
        first = net.encoder.to_half[0]
        with torch.no_grad():
            first.weight.copy_(folding.unshuffle_weights_to_s2d(first.weight))
        return net


def shuffle_to_bilinear(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A shuffle-output network's weights as a bilinear-output one's starting point: each
    colour's output convolution is the mean of its four sub-pixel phases' (PixelShuffle puts
    colour c's phases in channels 4c…4c+3), so the start paints the shuffle net's picture with
    its period-2 grain averaged out; everything else is the same."""
    state = dict(state)
    weight, bias = state["out_conv.weight"], state["out_conv.bias"]
    state["out_conv.weight"] = weight.reshape(3, 4, *weight.shape[1:]).mean(1)
    state["out_conv.bias"] = bias.reshape(3, 4).mean(1)
    return state


def code_features(vgg_convolutions: nn.Sequential) -> nn.Module:
    """The VGG16 features a "vgg" code is made of, from VGG16's convolutions
    (stylenets.perceptual.load_vgg16_features), cut after the last layer the code uses."""
    from stylenets.perceptual import LAYERS, VGGFeatures

    return VGGFeatures(vgg_convolutions[:LAYERS[list(VGG_CODE_LAYERS)[-1]] + 1], tuple(VGG_CODE_LAYERS))


class StyleEncoderGraph(nn.Module):
    """The exported style encoder: style picture (1×3×H×W) → style code (1×K). `vgg`: the
    code_features a "vgg"-code network needs."""

    def __init__(self, net: ArbitraryStyleNet, vgg: nn.Module | None = None):
        super().__init__()
        if net.code == "vgg" and vgg is None:
            raise ValueError("a vgg-code network's style encoder needs VGG16's weights")
        self.net, self.vgg = net, vgg if net.code == "vgg" else None

    def forward(self, picture: torch.Tensor) -> torch.Tensor:
        return self.net.style_code(picture, None if self.vgg is None else self.vgg(picture))

    def folded(self) -> nn.Module:
        return StyleEncoderGraph(self.net.folded(), self.vgg)


def build(config: dict) -> ArbitraryStyleNet:
    config = dict(config)
    if config.pop("arch", METHOD) != METHOD:
        raise ValueError("not an arbitrary-style network configuration")
    return ArbitraryStyleNet(**config)

"""Johnson et al. feed-forward transform net.

Reflection padding, instance norm, residual blocks, and upsampling followed by a
convolution (transposed convolutions leave checkerboard artefacts). The upsampling is
nearest-neighbour, which folds into a transposed convolution at export, or bilinear
(`upsample="bilinear"`), which does not lay down the even/odd pixel grain that the
nearest-neighbour copy leaves in a trained net's output (benchmarks/upsample_probe.py).
Input and output: RGB in [0, 1], NCHW; height and width any multiple of 4.

Each net also builds its own inference form (`folded`, the operators in stylenets.folding)
and reads a folded export's weights back (`unfold_state`).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylenets import folding


class InstanceNorm(nn.InstanceNorm2d):
    """Instance norm computed in float32: under bf16 autocast the variance of a channel
    with a large mean cancels catastrophically, goes negative and turns into NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        y = F.instance_norm(x.float(), weight=w, bias=b, eps=self.eps)
        return y.to(x.dtype)


class ConvLayer(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm:
            layers.append(InstanceNorm(cout, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


UPSAMPLE_MODES = ("nearest", "bilinear")


class UpsampleConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3, mode: str = "nearest"):
        super().__init__()
        self.conv = ConvLayer(cin, cout, kernel)
        self.upsample = True      # False in the folded form, whose convolution upsamples itself
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode=self.mode) if self.upsample else x)

    def folded(self) -> nn.Module:
        """The same layer at the input's resolution: reflection padding of the upsampled map
        is replicate padding of the small one, and the pair is a transposed convolution.
        The parameters keep this layer's names (conv.1.*). Bilinear upsampling stays as it is."""
        layer = copy.deepcopy(self)
        if self.mode != "nearest":
            return layer
        layer.upsample = False
        layer.conv[0] = nn.ReplicationPad2d(1)
        layer.conv[1] = folding.transposed_upsample_conv(self.conv[1])
        return layer


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """`width` is the channel count at full resolution (32 in the paper); ¼-res has 4× that."""

    arch = "johnson"
    edge_kernel = 9                # first and last convolution
    block: type[nn.Module] = ResidualBlock

    def __init__(self, width: int = 32, res_blocks: int = 5, upsample: str = "nearest", margin: int = 0):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, not {upsample!r}")
        if margin < 0:
            raise ValueError(f"margin must be at least 0, not {margin}")
        self.width, self.res_blocks, self.upsample, self.margin = width, res_blocks, upsample, margin
        w, k = width, self.edge_kernel
        self.encoder = nn.Sequential(ConvLayer(3, w, k), ConvLayer(w, 2 * w, 3, 2), ConvLayer(2 * w, 4 * w, 3, 2))
        self.residuals = nn.Sequential(*[self.block(4 * w) for _ in range(res_blocks)])
        self.decoder = nn.Sequential(UpsampleConv(4 * w, 2 * w, mode=upsample), UpsampleConv(2 * w, w, mode=upsample),
                                     ConvLayer(w, 3, k, norm=False, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A net whose painting has a frame (a mirror's edge, a canvas border) learns to paint
        # it along the picture's border, which reflection padding lets it find; a `margin`
        # computes the picture on a replicate-padded border that is cropped off again, so
        # that band falls outside the picture. 16 px covers it for 5 % more pixels at 1080p.
        m = self.margin
        if not m:
            return self.body(x)
        return self.body(F.pad(x, (m, m, m, m), mode="replicate"))[..., m:-m, m:-m]

    def body(self, x: torch.Tensor) -> torch.Tensor:
        # Squash to [0, 1] so the runtime never has to clamp or rescale.
        return torch.sigmoid(self.decoder(self.residuals(self.encoder(x))))

    def config(self) -> dict:
        # Nearest-neighbour and no margin are left out, so every net trained before the options
        # keeps its config.
        return {"arch": self.arch, "width": self.width, "res_blocks": self.res_blocks,
                **({"upsample": self.upsample} if self.upsample != "nearest" else {}),
                **({"margin": self.margin} if self.margin else {})}

    def folded(self) -> nn.Module:
        """An equal copy in the inference form the ONNX exports hold."""
        net = copy.deepcopy(self)
        for i, m in enumerate(net.decoder):
            if isinstance(m, UpsampleConv):
                net.decoder[i] = m.folded()
        return net

    @staticmethod
    def unfold_state(state: dict[str, torch.Tensor], graph_ops: set[str]) -> dict[str, torch.Tensor]:
        """Weights read from a folded export (`graph_ops`: its op types) under this net's names."""
        return folding.unfold_kernels(state)


class DepthwiseResidualBlock(nn.Module):
    """Residual block of depthwise 3×3 + pointwise 1×1 pairs: ~7× cheaper than two full 3×3s.
    Zero padding inside the convolutions: a separate reflection-pad op costs ONNX Runtime
    more time than the convolution it feeds at these widths."""

    def __init__(self, channels: int):
        super().__init__()

        def separable(relu: bool) -> list[nn.Module]:
            layers = [nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                      nn.Conv2d(channels, channels, 1), InstanceNorm(channels, affine=True)]
            return layers + ([nn.ReLU(inplace=True)] if relu else [])
        self.body = nn.Sequential(*separable(True), *separable(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _conv(cin: int, cout: int, stride: int = 1, norm: bool = True, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, padding=1)]
    if norm:
        layers.append(InstanceNorm(cout, affine=True))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class CompactNet(nn.Module):
    """The Johnson plan for CPU real time, with no convolution at full resolution.

    Pixel-unshuffle folds each 2×2 block of pixels into 12 channels, so the first and last
    convolutions run at ½ resolution; pixel-shuffle unfolds the output. The residual blocks
    are depthwise-separable at ¼ resolution. About 10 k multiply-adds per pixel against the
    full net's 154 k, and no full-resolution intermediate tensors, which on CPU cost as much
    as the arithmetic. `width` is the ½-resolution channel count. Input sides must be
    multiples of 4, like the full net's.
    """

    arch = "compact"
    upsample = "nearest"    # its decoder's upsampling folds into the phase convolutions

    def __init__(self, width: int = 32, res_blocks: int = 5):
        super().__init__()
        self.width, self.res_blocks = width, res_blocks
        w = width
        self.encoder = nn.Sequential(nn.PixelUnshuffle(2), ConvLayer(12, w, 3), _conv(w, 2 * w, stride=2))
        self.residuals = nn.Sequential(*[DepthwiseResidualBlock(2 * w) for _ in range(res_blocks)])
        self.decoder = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), _conv(2 * w, w),
                                     _conv(w, 12, norm=False, relu=False), nn.PixelShuffle(2))

    # Zero padding (cheap in ONNX Runtime, unlike a separate pad op per layer) leaves a band
    # of artefacts along the image border; computing on a replicate-padded margin and
    # cropping it keeps that band (about 16 px deep) out of the picture, for 17 % more
    # pixels at 640×272.
    margin = 16

    forward = TransformerNet.forward
    body = TransformerNet.body

    def config(self) -> dict:
        return {"arch": self.arch, "width": self.width, "res_blocks": self.res_blocks}

    def folded(self) -> nn.Module:
        """An equal copy in the inference form: the upsampling and its convolution as four
        low-resolution 2×2 convolutions, and the pixel-unshuffle as one SpaceToDepth."""
        net = copy.deepcopy(self)
        net.decoder[0] = nn.Identity()
        net.decoder[1][0] = folding.PhaseUpsampleConv(net.decoder[1][0])
        net.encoder[0] = folding.SpaceToDepth()
        first = net.encoder[1][1]
        with torch.no_grad():
            first.weight.copy_(folding.unshuffle_weights_to_s2d(first.weight))
        return net

    @staticmethod
    def unfold_state(state: dict[str, torch.Tensor], graph_ops: set[str]) -> dict[str, torch.Tensor]:
        out = folding.unfold_kernels(state)
        first = "encoder.1.1.weight"
        if "SpaceToDepth" in graph_ops and first in out:
            out[first] = folding.s2d_weights_to_unshuffle(out[first])
        return out


ARCHS = {"johnson": TransformerNet, "compact": CompactNet}


def build(arch: str = "johnson", **kwargs) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return ARCHS[arch](**kwargs)


def from_config(config: dict) -> nn.Module:
    config = dict(config)
    return build(config.pop("arch"), **config)

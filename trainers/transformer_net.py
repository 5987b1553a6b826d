"""Johnson et al. feed-forward transform net.

Reflection padding, instance norm, residual blocks, and nearest-neighbour upsampling
followed by a convolution (transposed convolutions leave checkerboard artefacts).
Input and output: RGB in [0, 1], NCHW; height and width any multiple of 4.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F


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


def fold_kernel(w: torch.Tensor) -> torch.Tensor:
    """The 3×3 kernel of a convolution run after nearest ×2 upsampling → the equal 4×4 kernel
    of a stride-2 transposed convolution run before it. Along each axis, output phase 0 sees
    input pixels (i−1, i) with taps (w0, w1+w2) and phase 1 sees (i, i+1) with (w0+w1, w2):
    the transposed convolution reads them as taps (k3, k1) and (k2, k0)."""
    def fold(w: torch.Tensor, dim: int) -> torch.Tensor:
        w0, w1, w2 = w.unbind(dim)
        return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)
    return fold(fold(w, 2), 3).transpose(0, 1)        # ConvTranspose2d keeps (in, out, kh, kw)


def unfold_kernel(k: torch.Tensor) -> torch.Tensor:
    """fold_kernel's inverse: (in, out, 4, 4) → (out, in, 3, 3)."""
    def unfold(k: torch.Tensor, dim: int) -> torch.Tensor:
        k0, k1, _, k3 = k.unbind(dim)
        return torch.stack([k3, k1 - k0, k0], dim)
    return unfold(unfold(k.transpose(0, 1), 2), 3)


def _transposed(conv: nn.Conv2d, padding: int) -> nn.ConvTranspose2d:
    up = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 4, stride=2, padding=padding)
    with torch.no_grad():
        up.weight.copy_(fold_kernel(conv.weight))
        up.bias.copy_(conv.bias)
    return up


class UpsampleConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.conv = ConvLayer(cin, cout, kernel)
        self.folded = False

    def fold(self) -> None:
        """Reflection padding of the upsampled map is replicate padding of the small one."""
        self.conv[0], self.conv[1] = nn.ReplicationPad2d(1), _transposed(self.conv[1], padding=3)
        self.folded = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x if self.folded else F.interpolate(x, scale_factor=2.0, mode="nearest"))


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

    def __init__(self, width: int = 32, res_blocks: int = 5):
        super().__init__()
        self.width, self.res_blocks = width, res_blocks
        w, k = width, self.edge_kernel
        self.encoder = nn.Sequential(ConvLayer(3, w, k), ConvLayer(w, 2 * w, 3, 2), ConvLayer(2 * w, 4 * w, 3, 2))
        self.residuals = nn.Sequential(*[self.block(4 * w) for _ in range(res_blocks)])
        self.decoder = nn.Sequential(UpsampleConv(4 * w, 2 * w), UpsampleConv(2 * w, w),
                                     ConvLayer(w, 3, k, norm=False, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.decoder(self.residuals(self.encoder(x)))
        # Squash to [0, 1] so the runtime never has to clamp or rescale.
        return torch.sigmoid(y)

    def config(self) -> dict:
        return {"arch": self.arch, "width": self.width, "res_blocks": self.res_blocks}

    def fold(self) -> None:
        """In place: the inference form `folded` describes."""
        for m in self.decoder:
            if isinstance(m, UpsampleConv):
                m.fold()


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.margin
        if not m:
            return TransformerNet.forward(self, x)
        y = TransformerNet.forward(self, F.pad(x, (m, m, m, m), mode="replicate"))
        return y[..., m:-m, m:-m]

    config = TransformerNet.config

    def fold(self) -> None:
        """In place: the inference form `folded` describes."""
        self.decoder[0] = nn.Identity()
        self.decoder[1][0] = _transposed(self.decoder[1][0], padding=1)
        self.encoder[0] = SpaceToDepth()
        first = self.encoder[1][1]
        with torch.no_grad():
            first.weight.copy_(first.weight[:, UNSHUFFLE_TO_S2D])


class _SpaceToDepth(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)

    @staticmethod
    def symbolic(g, x):
        return g.op("SpaceToDepth", x, blocksize_i=2)


class SpaceToDepth(nn.Module):
    """Pixel-unshuffle in ONNX SpaceToDepth's channel order (position in the 2×2 block first,
    then colour), exported as that one op."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SpaceToDepth.apply(x)


# SpaceToDepth's channel p·3 + c is nn.PixelUnshuffle's c·4 + p (p: position in the block).
UNSHUFFLE_TO_S2D = [c * 4 + p for p in range(4) for c in range(3)]


def folded(net: nn.Module) -> nn.Module:
    """An equal copy of a transform net, in the form ONNX Runtime runs fastest.

    - Each nearest ×2 upsampling + 3×3 convolution pair becomes one stride-2 4×4 transposed
      convolution at the lower resolution: 2.25× fewer multiply-adds there and no upsampled
      tensor. Training keeps the pair: trained as a transposed convolution the layer would
      be free to paint checkerboard artefacts; folded from the pair it cannot.
    - The compact net's pixel-unshuffle becomes SpaceToDepth, with its first convolution's
      input channels reordered to match: one op instead of a six-dimensional transpose.
    On one core at 640×272 the compact net takes 51 instead of 58 ms (ONNX Runtime, median).
    """
    net = copy.deepcopy(net)
    net.fold()
    return net


def unfold_state(state: dict[str, torch.Tensor], graph_ops: set[str]) -> dict[str, torch.Tensor]:
    """Weights read from a folded export (`graph_ops`: its op types) → the trained form's."""
    state = {k: unfold_kernel(v) if v.ndim == 4 and v.shape[2:] == (4, 4) else v for k, v in state.items()}
    if "SpaceToDepth" in graph_ops and "encoder.1.1.weight" in state:
        state["encoder.1.1.weight"] = state["encoder.1.1.weight"][:, torch.tensor(UNSHUFFLE_TO_S2D).argsort()]
    return state


ARCHS = {"johnson": TransformerNet, "compact": CompactNet}


def build(arch: str = "johnson", **kwargs) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return ARCHS[arch](**kwargs)


def from_config(config: dict) -> nn.Module:
    config = dict(config)
    return build(config.pop("arch"), **config)

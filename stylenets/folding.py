"""The operators of the transform nets' inference form: the same function in fewer operations.

Each net assembles its own folded copy from these (`TransformerNet.folded`,
`CompactNet.folded` in stylenets.transformer_net) and maps a folded export's weights back
(`unfold_state`). ONNX exports (exports.formats) hold the folded form, and the parity check
compares it with the trained net. Training never sees it, and TorchScript exports keep the
trained form (their CUDA speed is what docs/gpu.md measures).

- Nearest ×2 upsampling followed by a 3×3 convolution: along each axis, output phase 0
  reads input pixels (i−1, i) with taps (w0, w1+w2) and phase 1 reads (i, i+1) with
  (w0+w1, w2), so the pair runs at the low resolution with 2×2 kernels: 2.25× fewer
  multiply-adds and no upsampled tensor. The compact net (zero padding) gets four 2×2
  convolutions and a DepthToSpace; the full net (reflection padding, which on the
  upsampled map is replicate padding of the small one) a stride-2 4×4 transposed
  convolution. Trained that way the layers could paint checkerboards; folded from the
  pair they cannot.
- The compact net's pixel-unshuffle becomes one SpaceToDepth op, its first convolution's
  input channels reordered to SpaceToDepth's order, instead of a 6-D transpose.

On one core at 640×272 the compact starry takes 48 ms in ONNX Runtime instead of 58 (median).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Along one axis, the 3×3 taps (w0, w1, w2) each output phase of the upsampling sees: rows
# are (phase 0, first tap), (phase 0, second tap), (phase 1, first tap), (phase 1, second).
PHASE_TAPS = torch.tensor([[1., 0., 0.], [0., 1., 1.], [1., 1., 0.], [0., 0., 1.]])
PHASES = [(0, 0), (0, 1), (1, 0), (1, 1)]         # (row, column) phase of output pixel (2i+a, 2j+b)
# A stride-2 transposed convolution (padding 1) reads phase 0's taps as its k3, k1 and phase
# 1's as k2, k0: its kernel is PHASE_TAPS's rows in this order.
TRANSPOSED_ORDER = [3, 1, 2, 0]
# SpaceToDepth's channel p·3 + c is nn.PixelUnshuffle's c·4 + p (p: position in the block).
UNSHUFFLE_TO_S2D = [c * 4 + p for p in range(4) for c in range(3)]


def _spread(w: torch.Tensor) -> torch.Tensor:
    """(out, in, 3, 3) → (out, in, 4, 4): PHASE_TAPS applied along both axes."""
    return torch.einsum("ik,jl,ockl->ocij", PHASE_TAPS.to(w), PHASE_TAPS.to(w), w)


def _gather(k: torch.Tensor) -> torch.Tensor:
    """_spread's inverse (PHASE_TAPS has full column rank, so it is exact)."""
    back = torch.linalg.pinv(PHASE_TAPS).to(k)
    return torch.einsum("ki,lj,ocij->ockl", back, back, k)


def phase_kernels(w: torch.Tensor) -> list[torch.Tensor]:
    """The four (out, in, 2, 2) kernels, in PHASES order."""
    k = _spread(w)
    return [k[..., 2 * a:2 * a + 2, 2 * b:2 * b + 2] for a, b in PHASES]


def transposed_kernel(w: torch.Tensor) -> torch.Tensor:
    """The (in, out, 4, 4) kernel of the equal stride-2 transposed convolution."""
    return _spread(w)[..., TRANSPOSED_ORDER, :][..., TRANSPOSED_ORDER].transpose(0, 1)


class _PhaseConv(torch.autograd.Function):
    """Four zero-padded 2×2 convolutions, then their outputs interleaved (DepthToSpace DCR)."""

    @staticmethod
    def forward(ctx, x, k0, k1, k2, k3, bias):
        outs = [F.conv2d(F.pad(x, (1 - b, b, 1 - a, a)), k, bias) for (a, b), k in zip(PHASES, (k0, k1, k2, k3))]
        n, c, h, w = outs[0].shape
        return torch.stack(outs, 1).view(n, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, 2 * h, 2 * w)

    @staticmethod
    def symbolic(g, x, k0, k1, k2, k3, bias):
        outs = [g.op("Conv", x, k, bias, kernel_shape_i=[2, 2], pads_i=[1 - a, 1 - b, a, b])
                for (a, b), k in zip(PHASES, (k0, k1, k2, k3))]
        return g.op("DepthToSpace", g.op("Concat", *outs, axis_i=1), blocksize_i=2, mode_s="DCR")


class PhaseUpsampleConv(nn.Module):
    """nn.Upsample(×2, nearest) + Conv2d(3×3, zero padding 1) at the input's resolution."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.phases = nn.ParameterList([nn.Parameter(k.detach().clone()) for k in phase_kernels(conv.weight)])
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _PhaseConv.apply(x, *self.phases, self.bias)


def transposed_upsample_conv(conv: nn.Conv2d) -> nn.ConvTranspose2d:
    """nn.Upsample(×2, nearest) + `conv` (3×3, on a replicate-padded input) as one stride-2
    transposed convolution at the input's resolution."""
    t = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 4, stride=2, padding=3)
    with torch.no_grad():
        t.weight.copy_(transposed_kernel(conv.weight))
        t.bias.copy_(conv.bias)
    return t


class _SpaceToDepth(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)

    @staticmethod
    def symbolic(g, x):
        return g.op("SpaceToDepth", x, blocksize_i=2)


class SpaceToDepth(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SpaceToDepth.apply(x)


def unshuffle_weights_to_s2d(w: torch.Tensor) -> torch.Tensor:
    """A convolution's weights after nn.PixelUnshuffle(2), reordered to follow SpaceToDepth."""
    return w[:, UNSHUFFLE_TO_S2D]


def s2d_weights_to_unshuffle(w: torch.Tensor) -> torch.Tensor:
    return w[:, torch.tensor(UNSHUFFLE_TO_S2D).argsort()]


def unfold_kernels(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights read from a folded export with the upsampling convolutions' original 3×3
    kernels restored (from transposed or phase kernels). Other names pass through."""
    out: dict[str, torch.Tensor] = {}
    for name, v in state.items():
        if ".phases." in name:                                  # reassembled below
            continue
        if v.ndim == 4 and v.shape[2:] == (4, 4):               # transposed convolution
            v = _gather(v.transpose(0, 1)[..., TRANSPOSED_ORDER, :][..., TRANSPOSED_ORDER])
        out[name] = v
    for name in {n.rsplit(".phases.", 1)[0] for n in state if ".phases." in n}:
        k = torch.zeros(*state[f"{name}.phases.0"].shape[:2], 4, 4)
        for i, (a, b) in enumerate(PHASES):
            k[..., 2 * a:2 * a + 2, 2 * b:2 * b + 2] = state[f"{name}.phases.{i}"]
        out[f"{name}.weight"] = _gather(k)
    return out

"""StyleGAN2 networks (Karras et al. 2020): mapping, synthesis with modulated convolutions,
residual discriminator.

Every weight is stored at unit variance and scaled by 1/sqrt(fan_in) when used ("equalized
learning rate"): Adam's steps are then the same relative size in every layer. The mapping
network also divides its learning rate by 100, so W drifts slowly while synthesis learns.

Images are RGB in [-1, 1]. Style vectors: `num_ws` per image, one per layer in this order:
4×4 conv, then for each block the RGB output of the previous resolution shares its w with
the first (upsampling) conv of the next — `ws[:, k:]` are the layers from k on.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NOISE_NONE, NOISE_CONST, NOISE_RANDOM = 0, 1, 2
NOISE_MODES = {"none": NOISE_NONE, "const": NOISE_CONST, "random": NOISE_RANDOM}
SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * SQRT2  # the gain keeps activations at unit variance


def upsample(x: torch.Tensor) -> torch.Tensor:
    # Bilinear ×2 is StyleGAN2's [1,3,3,1] FIR upsampling, and exports as a plain ONNX Resize.
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def channels(res: int, base: int, cmax: int) -> int:
    return max(1, min(cmax, base // res))


class EqualLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(in_features), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(x) if self.activate else x


class EqualConv2d(nn.Module):
    """`down`: 2×2 average pooling first, so the convolution runs at the lower resolution."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activate: bool = False,
                 down: bool = False, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.activate, self.down, self.pad = activate, down, kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        return lrelu(x) if self.activate else x


# ------------------------------------------------------------------ generator

class MappingNetwork(nn.Module):
    """z → w through `layers` FC layers; tracks the average w for the truncation trick."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 8, lr_mul: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in zip(dims, dims[1:])])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, psi=1.0, track_w_avg: bool = False) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # z on the sphere of radius sqrt(z_dim)
        w = self.net(z)
        if track_w_avg:
            self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if isinstance(psi, torch.Tensor) or psi != 1:
            w = self.w_avg + psi * (w - self.w_avg)  # truncation: pull w toward the average
        return w


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulation/demodulation, written as scale → shared conv → rescale.

    Scaling the input channels by the style equals scaling the weights, and the
    demodulation factor depends on the style only, so it can be applied to the output.
    One shared convolution then serves the whole batch (no grouped conv with a batch-sized
    group count), which is faster on CPU and exports to ONNX with a dynamic batch.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)  # styles start at 1: an unmodulated conv
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate, self.up, self.pad = demodulate, up, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)                                   # N × in
        weight = self.weight * self.scale
        x = x * styles[:, :, None, None].to(x.dtype)
        if self.up:
            x = upsample(x)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.pad)
        if self.demodulate:
            # Output std for unit-variance input: sqrt(Σ_in,k (style·weight)²); divide it out.
            energy = styles.float().square() @ weight.float().square().sum([2, 3]).T  # N × out
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None].to(x.dtype)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3×3 conv, per-pixel noise with a learned strength, bias, leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))

    def noise(self, x: torch.Tensor, mode):
        if isinstance(mode, torch.Tensor):
            # Exported graphs take the mode as an input: both kinds, selected arithmetically.
            return (self.noise_const * (mode == NOISE_CONST).to(x.dtype)
                    + torch.randn_like(x[:, :1]) * (mode == NOISE_RANDOM).to(x.dtype))
        if mode == NOISE_CONST:
            return self.noise_const.to(x.dtype)
        return torch.randn_like(x[:, :1]) if mode == NOISE_RANDOM else None

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode) -> torch.Tensor:
        x = self.conv(x, w)
        noise = self.noise(x, noise_mode)
        if noise is not None:
            x = x + noise * self.noise_strength.to(x.dtype)
        return lrelu(x + self.bias[None, :, None, None].to(x.dtype))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None].to(x.dtype)


class SynthesisBlock(nn.Module):
    """One resolution: (upsampling conv,) conv, RGB output added to the upsampled image so far."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int):
        super().__init__()
        self.res = res
        if res == 4:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))  # the learned constant input
            self.convs = nn.ModuleList([SynthesisLayer(out_ch, out_ch, w_dim, res)])
        else:
            self.convs = nn.ModuleList([SynthesisLayer(in_ch, out_ch, w_dim, res, up=True),
                                        SynthesisLayer(out_ch, out_ch, w_dim, res)])
        self.torgb = ToRGB(out_ch, w_dim)

    @property
    def num_ws(self) -> int:
        return len(self.convs)  # the RGB layer's w is the next block's first

    def forward(self, x, img, ws: torch.Tensor, noise_mode):
        """`ws`: this block's convs' styles plus one for its RGB output."""
        if self.res == 4:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        for i, layer in enumerate(self.convs):
            x = layer(x, ws[:, i], noise_mode)
        rgb = self.torgb(x, ws[:, len(self.convs)])
        img = rgb if img is None else upsample(img) + rgb  # skip architecture: every scale paints
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, resolution: int, channel_base: int, channel_max: int):
        super().__init__()
        log2 = int(math.log2(resolution))
        if 2 ** log2 != resolution or resolution < 4:
            raise ValueError(f"resolution must be a power of two ≥ 4, got {resolution}")
        ch = lambda r: channels(r, channel_base, channel_max)  # noqa: E731
        self.blocks = nn.ModuleList([SynthesisBlock(ch(max(4, 2 ** (i - 1))), ch(2 ** i), w_dim, 2 ** i)
                                     for i in range(2, log2 + 1)])
        self.num_ws = sum(b.num_ws for b in self.blocks) + 1

    def forward(self, ws: torch.Tensor, noise_mode=NOISE_CONST) -> torch.Tensor:
        x = img = None
        k = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, k:k + block.num_ws + 1], noise_mode)
            k += block.num_ws
        return img


class Generator(nn.Module):
    def __init__(self, z_dim: int = 512, w_dim: int = 512, resolution: int = 64, channel_base: int = 16384,
                 channel_max: int = 512, mapping_layers: int = 8, mapping_lr_mul: float = 0.01):
        super().__init__()
        self.arch = dict(z_dim=z_dim, w_dim=w_dim, resolution=resolution, channel_base=channel_base,
                         channel_max=channel_max, mapping_layers=mapping_layers, mapping_lr_mul=mapping_lr_mul)
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channel_base, channel_max)
        self.num_ws = self.synthesis.num_ws

    def config(self) -> dict:
        return dict(self.arch)

    def styles(self, z: torch.Tensor, psi=1.0, z_mix: torch.Tensor | None = None, mix_layer=None,
               track_w_avg: bool = False) -> torch.Tensor:
        """N × num_ws × w_dim. With `z_mix`, layers from `mix_layer` on take its style."""
        w = self.mapping(z, psi, track_w_avg)
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if z_mix is not None:
            later = torch.arange(self.num_ws, device=z.device) >= mix_layer
            ws = torch.where(later[None, :, None], self.mapping(z_mix, psi).unsqueeze(1), ws)
        return ws

    def forward(self, z: torch.Tensor, psi=1.0, z_mix: torch.Tensor | None = None, mix_layer=None,
                noise_mode="const") -> torch.Tensor:
        if isinstance(noise_mode, str):
            noise_mode = NOISE_MODES[noise_mode]
        return self.synthesis(self.styles(z, psi, z_mix, mix_layer), noise_mode)


def build_generator(config: dict) -> Generator:
    return Generator(**config)


# ------------------------------------------------------------------ discriminator

def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Appends the feature std across small groups of samples: lets D see a collapsed batch."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    y = x.float().reshape(g, n // g, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean([1, 2, 3])   # one value per group
    y = y.reshape(1, n // g, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, y.to(x.dtype)], 1)


class DiscriminatorBlock(nn.Module):
    """Residual: two 3×3 convs (the second downsampling) beside a 1×1 downsampling skip."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3, activate=True)
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, activate=True, down=True)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * (1 / SQRT2)  # the sum of two unit-variance paths


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 64, channel_base: int = 16384, channel_max: int = 512, mbstd_group: int = 4):
        super().__init__()
        ch = lambda r: channels(r, channel_base, channel_max)  # noqa: E731
        log2 = int(math.log2(resolution))
        self.from_rgb = EqualConv2d(3, ch(resolution), 1, activate=True)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(ch(2 ** i), ch(2 ** (i - 1))) for i in range(log2, 2, -1)])
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(ch(4) + 1, ch(4), 3, activate=True)
        self.fc = EqualLinear(ch(4) * 16, ch(4), activate=True)
        self.out = EqualLinear(ch(4), 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_rgb(img))
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        return self.out(self.fc(x.flatten(1)))

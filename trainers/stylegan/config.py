"""StyleGAN2 training options: one dataclass, shared by `python -m trainers.stylegan` and
`stylestream train-gan`. Free of torch so the CLI starts quickly."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from trainers.config import ServiceOptions, add_service_arguments, options_from_args

RESOLUTIONS = (32, 64, 128, 256)


@dataclass
class GanConfig(ServiceOptions):
    data: str
    out: str
    resolution: int = 64
    name: str | None = None
    steps: int = 4000
    batch: int = 16
    crop_scale: list[float] = field(default_factory=lambda: [0.25, 1.0])
    # Networks. Widths: min(channel_max, channel_base / resolution) channels at each resolution.
    # The defaults make a slim generator that trains in about an hour on two CPU cores and
    # plays in real time there; a GPU takes stylegan2's widths (docs/stylegan.md: 512, 512,
    # 16384, 512) and more steps.
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 8
    channel_base: int = 2048
    channel_max: int = 64
    # Optimization and regularization (stylegan2-ada's defaults; r1_gamma None: its heuristic).
    lr: float = 0.0025
    r1_gamma: float | None = None
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    mixing_prob: float = 0.9
    ema_kimg: float | None = None    # EMA half-life in thousands of images; None: batch × 10/32
    ema_rampup: float = 0.05
    augment: list[str] = field(default_factory=list)   # DiffAugment policies, e.g. color translation cutout
    # Evaluation.
    fid_features: str = "auto"
    metric_every: int = 500
    metric_samples: int = 500
    # Services (the rest in ServiceOptions); GAN steps are short, so these come less often.
    checkpoint_every: int = field(default=500, kw_only=True)
    sample_every: int = field(default=500, kw_only=True)

    def validate(self) -> None:
        """ValueError with the option's name for anything the trainer cannot run with."""
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"--resolution must be one of {', '.join(map(str, RESOLUTIONS))}")
        if self.steps < 1 or self.batch < 1:
            raise ValueError("--steps and --batch must be positive")
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError("--crop-scale needs 0 < MIN ≤ MAX ≤ 1")
        if not 0 <= self.mixing_prob <= 1:
            raise ValueError("--mixing-prob must be between 0 and 1")
        if self.metric_every and self.metric_samples < 2:
            raise ValueError("--metric-samples must be at least 2")

    def arch(self) -> dict:
        return dict(z_dim=self.z_dim, w_dim=self.w_dim, resolution=self.resolution, channel_base=self.channel_base,
                    channel_max=self.channel_max, mapping_layers=self.mapping_layers)

    def r1(self) -> float:
        # stylegan2-ada's heuristic: weaker R1 for small images and large batches.
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution ** 2 / self.batch

    def ema_half_life_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = GanConfig("", "")
    p.add_argument("--data", required=True, help="folder of training images, or one image (patches of it are learned)")
    p.add_argument("--out", required=True, help="exported generator (.onnx); .pt goes beside it")
    p.add_argument("--resolution", type=int, default=d.resolution, help=f"{', '.join(map(str, RESOLUTIONS))} px")
    p.add_argument("--name", help="name stored in the model (default: the data's name)")
    p.add_argument("--steps", type=int, default=d.steps, help="training steps (one batch each)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch size per process")
    p.add_argument("--crop-scale", type=float, nargs=2, default=d.crop_scale, metavar=("MIN", "MAX"),
                   help="area of the random crops as a fraction of the image (default 0.25 1; small for textures)")
    p.add_argument("--z-dim", type=int, default=d.z_dim, help="size of the random latent z")
    p.add_argument("--w-dim", type=int, default=d.w_dim, help="size of the style latent w")
    p.add_argument("--mapping-layers", type=int, default=d.mapping_layers, help="layers of the z-to-w mapping net")
    p.add_argument("--channel-base", type=int, default=d.channel_base,
                   help="channels at resolution r: min(channel-max, channel-base / r)")
    p.add_argument("--channel-max", type=int, default=d.channel_max, help="most channels of any layer")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate of both nets")
    p.add_argument("--r1-gamma", type=float, default=None, help="R1 weight (default 0.0002·resolution²/batch)")
    p.add_argument("--r1-interval", type=int, default=d.r1_interval, help="steps between R1 penalties (lazy regularization)")
    p.add_argument("--pl-weight", type=float, default=d.pl_weight, help="path-length regularization weight (0 = off)")
    p.add_argument("--pl-interval", type=int, default=d.pl_interval, help="steps between path-length penalties")
    p.add_argument("--mixing-prob", type=float, default=d.mixing_prob, help="style-mixing regularization probability")
    p.add_argument("--ema-kimg", type=float, default=None, help="EMA half-life in thousands of images (default batch·10/32)")
    p.add_argument("--augment", nargs="*", default=d.augment, metavar="OP",
                   help="differentiable augmentation for small data: any of color translation cutout")
    p.add_argument("--fid-features", choices=["auto", "inception", "vgg16"], default=d.fid_features,
                   help="auto: Inception-v3 (FID) if torchvision can load it, else VGG16 (reported as FID-VGG16)")
    p.add_argument("--metric-every", type=int, default=d.metric_every, help="steps between Fréchet distances (0 = off)")
    p.add_argument("--metric-samples", type=int, default=d.metric_samples, help="generated images per Fréchet distance")
    add_service_arguments(p, d)


def config_from_args(args: argparse.Namespace) -> GanConfig:
    return options_from_args(GanConfig, args)

"""Training options: those every trainer takes from the services (ServiceOptions), and fast
NST's, shared by `python -m trainers.fast_nst` and `stylestream train`. Free of torch so the
CLI starts quickly."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(kw_only=True)
class ServiceOptions:
    """What every trainer takes from trainers.services: precision, devices, seeds,
    checkpoints and resume, samples, VGG weights, export."""
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    checkpoint_every: int = 200
    sample_every: int = 200
    workdir: str | None = None
    resume: bool = False
    vgg_weights: str | None = None
    export: bool = True
    max_minutes: float | None = None  # wall-clock budget: stop, checkpoint and export when it runs out

    @property
    def run_dir(self) -> Path:
        return Path(self.workdir) if self.workdir else Path(self.out).with_suffix(".run")


def add_service_arguments(p: argparse.ArgumentParser, d: ServiceOptions) -> None:
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default=d.precision,
                   help="autocast precision; auto is bf16 where the device computes it natively "
                        "(CUDA, CPUs with AVX-512 BF16 or AMX), fp32 on other CPUs, where bf16 is emulated and slow")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=d.device,
                   help="auto: CUDA where PyTorch sees a GPU, else the CPU")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the weights' start and the data order")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                   help="steps between checkpoints in WORKDIR (one is also written at the end)")
    p.add_argument("--sample-every", type=int, default=d.sample_every, help="steps between sample images in WORKDIR")
    p.add_argument("--workdir", help="checkpoints, samples and logs (default: OUT with .run suffix)")
    p.add_argument("--resume", action="store_true", help="continue from WORKDIR/checkpoint.pt")
    p.add_argument("--vgg-weights", help="local VGG16 weights (else $STYLESTREAM_VGG_WEIGHTS, else torchvision download)")
    p.add_argument("--no-export", dest="export", action="store_false",
                   help="keep only the checkpoint; export it later with python -m exports")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop after this many minutes of training (checkpoint and export as at --steps)")


def options_from_args(cls, args: argparse.Namespace):
    """The dataclass `cls` from parsed arguments of the same names."""
    return cls(**{k: v for k, v in vars(args).items() if k in cls.__dataclass_fields__})


@dataclass
class TrainConfig(ServiceOptions):
    style_image: str
    data: str
    out: str
    name: str | None = None
    size: int = 256
    style_size: int = 256
    steps: int = 2000
    batch: int = 4
    lr: float = 1e-3
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0
    temporal_weight: float = 0.0     # synthetic-motion stability loss (trainers/temporal_loss.py); 0 = off
    style_layer_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    style_loss: str = "mse"          # stylenets.perceptual.STYLE_LOSSES: how each layer's Gram mismatch counts
    content_layer: str = "relu2_2"
    arch: str = "johnson"
    width: int | None = None         # the architecture's own default: 32 (johnson: full-res, compact: ½-res)
    res_blocks: int = 5
    upsample: str = "nearest"        # the johnson decoder's upsampling (stylenets.transformer_net.UPSAMPLE_MODES)
    init: str | None = None          # start from this checkpoint's or model file's weights (fine-tuning)
    teacher: str | None = None       # distil: a trained net (checkpoint or our .onnx) whose outputs to match
    distill_weight: float = 1e5      # weight of the L1 distance to the teacher's output
    log_every: int = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig("", "", "")
    p.add_argument("--style-image", required=True, help="the painting to learn")
    p.add_argument("--data", required=True, help="folder of training photos")
    p.add_argument("--out", required=True, help="exported model path (.onnx); .fp16.onnx and .pt go beside it")
    p.add_argument("--name", help="style name stored in the model (default: style image's file name)")
    p.add_argument("--size", type=int, default=d.size, help="training crop size")
    p.add_argument("--style-size", type=int, default=d.style_size, help="longer side of the style image for its Gram targets")
    p.add_argument("--steps", type=int, default=d.steps, help="training steps (one batch each)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch size per process")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--content-weight", type=float, default=d.content_weight,
                   help="weight of the content loss (VGG features of the photo kept)")
    p.add_argument("--style-weight", type=float, default=d.style_weight,
                   help="weight of the style loss (Gram matrices of the painting matched)")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight, help="weight of the total-variation smoothness loss")
    p.add_argument("--temporal-weight", type=float, default=d.temporal_weight,
                   help="weight of the synthetic-motion temporal loss (0 = off; e.g. 2e6)")
    p.add_argument("--style-layer-weights", type=float, nargs=4, default=d.style_layer_weights,
                   metavar=("R12", "R22", "R33", "R43"), help="style loss weight of each VGG16 layer")
    p.add_argument("--style-loss", choices=["mse", "relative"], default=d.style_loss,
                   help="mse: squared Gram difference (layers weigh by their activation scale); relative: over "
                   "the painting's own squared Gram norm, every layer alike (style weights near 1e5 instead of 1e10)")
    p.add_argument("--content-layer", choices=["relu2_2", "relu3_3"], default=d.content_layer,
                   help="VGG16 layer whose features the output must keep")
    p.add_argument("--arch", choices=["johnson", "compact"], default=d.arch,
                   help="johnson: the paper's net (154 k MAC/px); compact: CPU real time (10 k MAC/px)")
    p.add_argument("--width", type=int, default=d.width, help="channels of the first layer (default 32)")
    p.add_argument("--res-blocks", type=int, default=d.res_blocks, help="residual blocks of the net")
    p.add_argument("--upsample", choices=["nearest", "bilinear"], default=d.upsample,
                   help="the johnson decoder's upsampling: bilinear leaves no even/odd pixel grain; --init from a "
                   "nearest net carries its weights over")
    p.add_argument("--init", help="fine-tune: start from this trained net (training checkpoint or stylestream .onnx), "
                   "e.g. at another --style-weight or --style-size")
    p.add_argument("--teacher", help="distil from this trained net (training checkpoint or stylestream .onnx), "
                   "e.g. the full net of the same style; --content-weight 0 --style-weight 0 skips VGG entirely")
    p.add_argument("--distill-weight", type=float, default=d.distill_weight,
                   help="weight of the L1 distance to the teacher's output")
    add_service_arguments(p, d)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return options_from_args(TrainConfig, args)



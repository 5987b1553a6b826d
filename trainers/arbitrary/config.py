"""Options of `python -m trainers.arbitrary` and `stylestream train-arbitrary`; free of torch."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from trainers.config import ServiceOptions, add_service_arguments, options_from_args


@dataclass
class ArbitraryConfig(ServiceOptions):
    data: list[str] = field(default_factory=list)      # photo folders (never a test folder)
    styles: list[str] = field(default_factory=list)    # style picture folders (held-out pictures refused)
    out: str = ""                                       # export prefix: OUT.encoder.onnx, OUT.frame.onnx
    size: int = 256             # content crop side
    style_size: int = 256       # style crop side in training; the runtime sizes style pictures to it
    steps: int = 20000
    batch: int = 4
    lr: float = 5e-4
    content_weight: float = 1.0     # relative squared feature distance at content_layer
    style_weight: float = 1.0       # relative squared Gram distance, summed over VGG16 relu1_2…relu4_3
    stats_weight: float = 1.0       # relative squared mean/std distance over the same layers
    identity_weight: float = 1.0    # L1 to the photo at strength 0 (the frame's own statistics)
    tv_weight: float = 0.0
    content_layer: str = "relu3_3"
    width: int = 32
    enc_blocks: int = 2
    dec_blocks: int = 3
    hidden: int = 128
    output: str = "bilinear"    # the decoder's last upsampling (stylenets.arbitrary.OUTPUTS); shuffle paints a 2 px grain
    code: str = "light"         # what the style code holds (stylenets.arbitrary.CODES)
    init: str | None = None     # start from these weights (a checkpoint or PREFIX.frame.onnx), with a fresh optimizer
    log_every: int = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = ArbitraryConfig()
    p.add_argument("--data", nargs="+", required=True, help="folders of training photos")
    p.add_argument("--styles", nargs="+", required=True,
                   help="folders of style pictures (paintings, drawings, textures); trainers/arbitrary/holdout.txt's "
                        "are refused")
    p.add_argument("--out", required=True, help="export prefix: OUT.encoder.onnx and OUT.frame.onnx")
    p.add_argument("--size", type=int, default=d.size, help=f"photo crop side (default {d.size})")
    p.add_argument("--style-size", type=int, default=d.style_size,
                   help=f"style crop side; the runtime sizes style pictures to it (default {d.style_size})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"(default {d.steps})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"photo/style pairs per step (default {d.batch})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr:g})")
    p.add_argument("--content-weight", type=float, default=d.content_weight,
                   help=f"relative feature distance to the photo at --content-layer (default {d.content_weight:g})")
    p.add_argument("--style-weight", type=float, default=d.style_weight,
                   help=f"relative Gram distance to the style picture, relu1_2..relu4_3 (default {d.style_weight:g})")
    p.add_argument("--stats-weight", type=float, default=d.stats_weight,
                   help=f"relative mean/std distance to the style picture (default {d.stats_weight:g})")
    p.add_argument("--identity-weight", type=float, default=d.identity_weight,
                   help=f"L1 to the photo at strength 0 (default {d.identity_weight:g})")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight, help=f"(default {d.tv_weight:g})")
    p.add_argument("--content-layer", choices=["relu2_2", "relu3_3"], default=d.content_layer,
                   help=f"(default {d.content_layer})")
    p.add_argument("--width", type=int, default=d.width, help=f"channels at ½ resolution (default {d.width})")
    p.add_argument("--enc-blocks", type=int, default=d.enc_blocks, help=f"(default {d.enc_blocks})")
    p.add_argument("--dec-blocks", type=int, default=d.dec_blocks, help=f"(default {d.dec_blocks})")
    p.add_argument("--hidden", type=int, default=d.hidden, help=f"modulation MLP width (default {d.hidden})")
    p.add_argument("--output", choices=["shuffle", "bilinear"], default=d.output,
                   help="the decoder's last upsampling: bilinear (resize-convolution) paints no period-2 px grain "
                        f"(default {d.output})")
    p.add_argument("--code", choices=["light", "vgg"], default=d.code,
                   help="the style code: the light encoder's statistics, or those and VGG16's at relu1_2..relu3_3 "
                        "(a larger encoder file, once per style picture; a light-code --init gains the VGG part "
                        f"at zero) (default {d.code})")
    p.add_argument("--init", help="start from these weights, with a fresh optimizer: an arbitrary-style training "
                                  "checkpoint or an exported PREFIX.frame.onnx such as the installed model (a "
                                  "shuffle-output one converts to --output bilinear); --resume takes precedence once "
                                  "the workdir has a checkpoint")
    p.add_argument("--log-every", type=int, default=d.log_every, help=f"(default {d.log_every})")
    add_service_arguments(p, d)


def config_from_args(args: argparse.Namespace) -> ArbitraryConfig:
    return options_from_args(ArbitraryConfig, args)

"""Fast neural style transfer (Johnson et al. 2016): train a transform net for one style.

    python -m trainers.fast_nst --style-image starry_night.jpg --data photos/ --out starry.onnx
    torchrun --nproc_per_node 2 -m trainers.fast_nst ...     # DistributedDataParallel

The loop draws batches, asks the perceptual loss for its terms and steps Adam; checkpoints,
logging, precision and distribution come from `trainers.services`; exports from `exports`.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from stylenets.checkpoints import checkpoint_steps, load_style_net, style_metadata
from stylenets.perceptual import (
    STYLE_LAYERS,
    PerceptualLoss,
    VGGFeatures,
    load_vgg16_features,
    total_variation,
)
from stylenets.transformer_net import build
from trainers import services
from trainers.config import TrainConfig
from trainers.data import ImageFolderSampler, read_image
from trainers.temporal_loss import TemporalLoss


def style_name(cfg: TrainConfig) -> str:
    return cfg.name or Path(cfg.style_image).stem


def _sample_photos(sampler: ImageFolderSampler, size: int, count: int = 4) -> torch.Tensor:
    """Fixed photos for sample grids: evenly spread through the data set, centre-cropped."""
    picks = [sampler.images[i * len(sampler.images) // count] for i in range(min(count, len(sampler.images)))]
    out = []
    for img in picks:
        _, h, w = img.shape
        s = min(h, w)
        crop = img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].float().unsqueeze(0) / 255
        out.append(torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear", antialias=True)[0])
    return torch.stack(out)


def train(cfg: TrainConfig) -> dict:
    return services.run_training(cfg.device, lambda rt: _train(cfg, rt))


def _train(cfg: TrainConfig, rt: services.Runtime) -> dict:
    services.seed_everything(cfg.seed)  # same init on every rank; DDP also broadcasts it
    dev = rt.device
    channels_last = torch.channels_last if dev.type == "cpu" else torch.contiguous_format

    if len(cfg.style_layer_weights) != len(STYLE_LAYERS):
        raise ValueError(f"--style-layer-weights needs {len(STYLE_LAYERS)} values")
    # Pure distillation (content and style weights 0) needs no VGG: a step costs a fraction.
    perceptual = cfg.content_weight > 0 or cfg.style_weight > 0
    if not perceptual and not cfg.teacher:
        raise ValueError("--content-weight and --style-weight are both 0 and there is no --teacher: nothing to learn")
    if perceptual:
        style = read_image(cfg.style_image, max_side=cfg.style_size).unsqueeze(0).to(dev)
        vgg = VGGFeatures(load_vgg16_features(cfg.vgg_weights)).to(dev, memory_format=channels_last)
        loss_fn = PerceptualLoss(vgg, style, style_layers=dict(zip(STYLE_LAYERS, cfg.style_layer_weights)),
                                 content_weight=cfg.content_weight, style_weight=cfg.style_weight,
                                 tv_weight=cfg.tv_weight, style_loss=cfg.style_loss,
                                 content_layer=cfg.content_layer).to(dev)
    teacher = load_teacher(cfg.teacher).to(dev, memory_format=channels_last) if cfg.teacher else None
    temporal = TemporalLoss(cfg.temporal_weight) if cfg.temporal_weight > 0 else None
    sampler = ImageFolderSampler(cfg.data, cfg.size, seed=cfg.seed)
    sizes = {"width": cfg.width} if cfg.width else {}
    if cfg.upsample != "nearest":
        if cfg.arch != "johnson":
            raise ValueError(f"--upsample {cfg.upsample} is an option of the johnson net; the compact net's "
                             "upsampling folds into its pixel-shuffle decoder")
        sizes["upsample"] = cfg.upsample
    model = build(cfg.arch, res_blocks=cfg.res_blocks, **sizes).to(dev, memory_format=channels_last)
    if cfg.init:
        start_net = load_style_net(cfg.init, "--init")
        if _weight_shapes(start_net.config()) != _weight_shapes(model.config()):
            raise ValueError(f"--init {cfg.init} holds a {start_net.config()} net, not {model.config()}")
        model.load_state_dict(start_net.state_dict())
    before = sum(checkpoint_steps(cfg.init))
    run_dir = cfg.run_dir
    training = services.NetTraining(model, cfg.lr, rt, cfg.precision, run_dir, cfg.resume)
    ddp_model = training.model

    samples = _sample_photos(sampler, cfg.size).to(dev)
    logger = services.Logger(rt, run_dir / "tb", total=cfg.steps, initial=training.step, desc=style_name(cfg))
    history: list[dict] = []
    start, start_step = time.perf_counter(), training.step
    stop = False
    while training.step < cfg.steps and not stop:
        step = training.step
        x = sampler.batch(step, cfg.batch, rt.rank).to(dev).contiguous(memory_format=channels_last)
        with services.autocast(dev, cfg.precision):
            with torch.no_grad():
                content_features = vgg(x) if perceptual else None
                target = teacher(x) if teacher is not None else None
            if temporal is None:
                y = ddp_model(x)
            else:  # one forward for both copies: instance norm keeps the samples independent
                motion_rng = torch.Generator().manual_seed(hash((cfg.seed, step, rt.rank, 1)) & 0x7FFF_FFFF_FFFF)
                x_moved, grid, mask = temporal.pair(x, motion_rng)
                y, y_moved = ddp_model(torch.cat([x, x_moved])).chunk(2)
            losses = loss_fn(y, content_features=content_features) if perceptual else _tv_only(y, cfg.tv_weight)
            zero = torch.zeros((), device=dev)
            losses["temporal"] = temporal(y, y_moved, grid, mask) if temporal else zero
            losses["distill"] = cfg.distill_weight * F.l1_loss(y.float(), target.float()) if teacher is not None \
                else zero
            losses["total"] = losses["total"] + losses["temporal"] + losses["distill"]
        training.update(losses["total"])
        step = training.step
        stop = services.time_is_up(start, cfg.max_minutes, rt)

        names = ("total", "content", "style", "tv", "temporal", "distill")
        scalars = torch.stack([losses[k].detach().float() for k in names])
        scalars = services.mean_across_ranks(scalars, rt)
        record = dict(zip(names, scalars.tolist()), step=step)
        history.append(record)
        logger.step(step, {k: record[k] for k in ("total", "content", "style", *(("temporal",) if temporal else ()),
                                                  *(("distill",) if teacher is not None else ()))})

        if rt.is_main and (step % cfg.sample_every == 0 or step == cfg.steps or stop):
            _write_samples(model, samples, run_dir / "samples" / f"step{step:06d}.png", logger, step)
        if rt.is_main and (step % cfg.checkpoint_every == 0 or step == cfg.steps or stop):
            training.save({"config": asdict(cfg), "steps_before": before})
    logger.close()
    elapsed = time.perf_counter() - start
    result = {"steps": step, "seconds": elapsed, "steps_per_second": (step - start_step) / max(elapsed, 1e-9),
              "history": history}
    if rt.is_main and cfg.export:
        from exports.formats import export_all
        result["exports"] = {k: (str(p), d) for k, (p, d) in
                             export_all(model.float(), cfg.out, style_metadata(asdict(cfg), model.config(), step, before)).items()}
    return result


def _weight_shapes(config: dict) -> dict:
    """A net's config less its upsampling mode, which has no weights: a nearest-neighbour net
    is where a bilinear one starts."""
    return {k: v for k, v in config.items() if k != "upsample"}


def _tv_only(y: torch.Tensor, tv_weight: float) -> dict[str, torch.Tensor]:
    """The perceptual loss's terms when it is off (pure distillation): only total variation."""
    zero = y.new_zeros((), dtype=torch.float32)
    tv = tv_weight * total_variation(y.float())
    return {"content": zero, "style": zero, "tv": tv, "total": tv}


@torch.no_grad()
def _write_samples(model, photos, path: Path, logger: services.Logger, step: int) -> None:
    was_training = model.training
    model.eval()
    out = model(photos.contiguous(memory_format=torch.channels_last) if photos.device.type == "cpu" else photos)
    model.train(was_training)
    logger.grid("samples", torch.cat([photos, out.float()]), path, step, nrow=len(photos))


def load_teacher(path: str | Path) -> torch.nn.Module:
    """A trained transform net to distil from, frozen."""
    return load_style_net(path, "--teacher").requires_grad_(False)

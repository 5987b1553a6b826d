"""StyleGAN2 training loop: alternate D and G steps, keep an EMA generator, evaluate, export.

    python -m trainers.stylegan --data photos/ --resolution 64 --out gen.onnx
    torchrun --standalone --nproc_per_node 2 -m trainers.stylegan ...   # gradients averaged across processes

What each step optimizes lives in `loss`; precision, checkpoints, logging and distribution
come from `trainers.services`; data from `trainers.data`; the export from `exports.generator`.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch

from stylenets.checkpoints import load_state
from stylenets.metadata import GENERATOR_KIND
from trainers import services
from trainers.data import ImageFolderSampler
from trainers.stylegan.augment import DiffAugment
from trainers.stylegan.config import GanConfig
from trainers.stylegan.loss import StyleGAN2Loss
from trainers.stylegan.metrics import FrechetMetric, feature_extractor
from trainers.stylegan.networks import Discriminator, Generator

SAMPLE_GRID = (4, 8)  # rows, columns of the fixed-latent sample grids


def model_name(cfg: GanConfig) -> str:
    return cfg.name or Path(cfg.data.rstrip("/")).stem


def lazy_adam(module: torch.nn.Module, lr: float, reg_interval: int | None) -> torch.optim.Adam:
    """Adam as in StyleGAN2; with a lazy regularizer every k steps, lr and betas are scaled by
    k/(k+1) so that the main and regularization steps together move like one plain step each."""
    c = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(module.parameters(), lr=lr * c, betas=(0.0, 0.99 ** c), eps=1e-8)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.copy_(p.lerp(pe, beta))
    for be, b in zip(ema.buffers(), model.buffers()):  # w_avg, constant noise
        be.copy_(b)


def train(cfg: GanConfig) -> dict:
    cfg.validate()
    return services.run_training(cfg.device, lambda rt: _train(cfg, rt))


def _train(cfg: GanConfig, rt: services.Runtime) -> dict:
    services.seed_everything(cfg.seed)  # same initial weights on every rank
    dev = rt.device
    # oneDNN's bf16 convolutions are markedly faster on NHWC tensors (≈1.5× per step on a 2-core AMX CPU).
    layout = torch.channels_last if dev.type == "cpu" else torch.contiguous_format
    sampler = ImageFolderSampler(cfg.data, cfg.resolution, scale=tuple(cfg.crop_scale), seed=cfg.seed)
    G = Generator(**cfg.arch()).to(dev, memory_format=layout)
    D = Discriminator(cfg.resolution, cfg.channel_base, cfg.channel_max).to(dev, memory_format=layout)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    loss = StyleGAN2Loss(G, D, r1_gamma=cfg.r1(), r1_interval=cfg.r1_interval, pl_weight=cfg.pl_weight,
                         pl_interval=cfg.pl_interval, mixing_prob=cfg.mixing_prob,
                         augment=DiffAugment(tuple(cfg.augment)) if cfg.augment else None,
                         autocast=partial(services.autocast, dev, cfg.precision),
                         mean_across_ranks=partial(services.mean_across_ranks, rt=rt))
    G_opt = lazy_adam(G, cfg.lr, cfg.pl_interval if cfg.pl_weight > 0 else None)
    D_opt = lazy_adam(D, cfg.lr, cfg.r1_interval if cfg.r1() > 0 else None)
    scaler = services.grad_scaler(dev, cfg.precision)
    state = {"G": G, "D": D, "G_ema": G_ema, "G_opt": G_opt, "D_opt": D_opt, "loss": loss,
             **({"scaler": scaler} if scaler.is_enabled() else {})}

    run_dir = cfg.run_dir
    ckpt_path, metrics_path = run_dir / "checkpoint.pt", run_dir / "metrics.jsonl"
    step, seconds_before = 0, 0.0
    if cfg.resume:
        step, extra = services.resume_checkpoint(ckpt_path, state, "arch", cfg.arch())
        seconds_before = extra.get("seconds", 0.0)
    for module in (G, D, G_ema):
        services.broadcast_parameters(module, rt)

    metric, metrics = None, []
    if rt.is_main and cfg.metric_every:
        metric = _frechet_metric(cfg, sampler, dev)
        metrics = _read_metrics(metrics_path, up_to=step)
        _write_metrics(metrics_path, metrics)  # drops figures a crashed run logged after its checkpoint
    fixed_z = torch.randn(SAMPLE_GRID[0] * SAMPLE_GRID[1], cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
    logger = services.Logger(rt, run_dir / "tb", total=cfg.steps, initial=step, desc=model_name(cfg))
    history: list[dict] = []
    images_per_step = cfg.batch * rt.world_size
    start, start_step, bad_steps = time.perf_counter(), step, 0
    done = step >= cfg.steps
    while not done:
        services.seed_step(cfg.seed, step, rt.rank)
        real = (sampler.batch(step, cfg.batch, rt.rank).to(dev) * 2 - 1).contiguous(memory_format=layout)
        d = _phase(D, G, D_opt, scaler, lambda: loss.discriminator_loss(real, step), rt)
        g = _phase(G, D, G_opt, scaler, lambda: loss.generator_loss(cfg.batch, dev, step), rt)
        scaler.update()
        bad_steps = 0 if d["applied"] and g["applied"] else bad_steps + 1
        if bad_steps >= 10:
            raise FloatingPointError(f"losses non-finite for 10 steps in a row at step {step}; lower --lr")
        # EMA half-life in images, ramped up from the start so early G_ema is not stuck at init.
        half_life = min(cfg.ema_half_life_kimg() * 1000, step * images_per_step * cfg.ema_rampup)
        update_ema(G_ema, G, 0.5 ** (images_per_step / max(half_life, 1e-8)))
        step += 1

        names = ("d_real", "d_fake", "r1", "g", "pl", "pl_mean")
        scalars = services.mean_across_ranks(torch.stack([{**d, **g}[k].float() for k in names]), rt)
        record = dict(zip(names, scalars.tolist()), step=step)
        history.append(record)
        logger.step(step, {k: record[k] for k in ("d_real", "d_fake", "g")})

        done = step >= cfg.steps or services.time_is_up(start, cfg.max_minutes, rt)
        if rt.is_main and (step % cfg.sample_every == 0 or done):
            _write_samples(G_ema, fixed_z, run_dir / "samples" / f"step{step:06d}.png", logger, step)
        if metric is not None and (step % cfg.metric_every == 0 or done):
            row = {"step": step, "kimg": round(step * images_per_step / 1000, 3), "metric": metric.label,
                   "value": metric(G_ema, dev), "samples": cfg.metric_samples, "real_vs_real": metric.floor,
                   "seconds": round(seconds_before + time.perf_counter() - start, 1)}
            metrics.append(row)
            _write_metrics(metrics_path, metrics)
            logger.metric(metric.key, row["value"], step)
        if rt.is_main and (step % cfg.checkpoint_every == 0 or done):
            services.save_checkpoint(ckpt_path, step, state, extra={
                "arch": cfg.arch(), "config": asdict(cfg), "seconds": seconds_before + time.perf_counter() - start})
    logger.close()
    elapsed = time.perf_counter() - start
    result = {"steps": step, "seconds": elapsed, "seconds_per_step": elapsed / max(step - start_step, 1),
              "history": history, "metrics": metrics}
    if rt.is_main and cfg.export:
        from exports.generator import export_generator
        result["exports"] = {k: (str(p), diff) for k, (p, diff) in
                             export_generator(G_ema, cfg.out, _metadata(cfg, step, images_per_step, metrics)).items()}
    return result


def _phase(module, frozen, optimizer, scaler, compute, rt: services.Runtime) -> dict:
    """One optimizer step of `module` on the losses `compute()` returns; `frozen` gets no gradients."""
    module.requires_grad_(True)
    frozen.requires_grad_(False)
    losses = compute()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(losses["total"]).backward()
    services.average_gradients(module, rt)
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(module.parameters(), float("inf"))
    applied = services.all_finite(losses["total"] + grad_norm, rt)
    if applied:  # skip the update rather than poison the weights
        scaler.step(optimizer)
    return {**losses, "applied": applied}


def _frechet_metric(cfg: GanConfig, sampler: ImageFolderSampler, dev: torch.device) -> FrechetMetric:
    extractor = feature_extractor(cfg.fid_features, cfg.vgg_weights, dev)
    batch = 50
    n = math.ceil(cfg.metric_samples / batch)
    # Real crops drawn like training batches, at "steps" training never reaches.
    reals = lambda first: (sampler.batch(first - i, batch).to(dev) for i in range(n))  # noqa: E731
    return FrechetMetric(extractor, reals(-1), cfg.metric_samples, batch, seed=cfg.seed + 1, other_real_batches=reals(-1 - n))


def _read_metrics(path: Path, up_to: int) -> list[dict]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= up_to]


def _write_metrics(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


@torch.no_grad()
def _write_samples(G_ema, z, path: Path, logger: services.Logger, step: int) -> None:
    dev = next(G_ema.parameters()).device
    img = G_ema(z.to(dev), noise_mode="const").float().add(1).div(2)
    logger.grid("samples", img, path, step, nrow=SAMPLE_GRID[1])


def _metadata(cfg: GanConfig, step: int, images_per_step: int, metrics: list[dict]) -> dict:
    meta = {"kind": GENERATOR_KIND, "name": model_name(cfg), "data": Path(cfg.data).name, "steps": step,
            "kimg": round(step * images_per_step / 1000, 3), "seed": cfg.seed, **cfg.arch()}
    if metrics:
        meta.update(metric=metrics[-1]["metric"], metric_value=round(metrics[-1]["value"], 4))
    return meta


def load_checkpoint_generator(path: str | Path, ema: bool = True) -> tuple[Generator, dict]:
    """The (EMA) generator and config stored in a training checkpoint."""
    state = load_state(path)
    try:
        G = Generator(**state["extra"]["arch"])
        G.load_state_dict(state["state/G_ema" if ema else "state/G"])
        return G.eval(), state["extra"]["config"]
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a StyleGAN training checkpoint ({exc.__class__.__name__})") from None

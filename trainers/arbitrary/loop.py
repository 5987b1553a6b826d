"""The training loop of the arbitrary-style network; the package's docstring says what it trains."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from stylenets.arbitrary import ArbitraryStyleNet, build, channel_stats, shuffle_to_bilinear
from stylenets.checkpoints import load_state
from stylenets.onnx_import import arbitrary_net_from_onnx
from stylenets.perceptual import STYLE_LAYERS, VGGFeatures, gram_matrix, load_vgg16_features, total_variation
from trainers import services
from trainers.arbitrary.config import ArbitraryConfig
from trainers.arbitrary.data import PictureSampler, training_pictures

LOSS_NAMES = ("total", "content", "style", "stats", "identity", "tv")


def relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖a − b‖² / ‖b‖², averaged over the batch."""
    dims = tuple(range(1, a.dim()))
    return ((a - b).pow(2).sum(dims) / b.pow(2).sum(dims).clamp_min(1e-12)).mean()


def losses(cfg: ArbitraryConfig, out_feats: dict, content_feats: dict, style_feats: dict) -> dict[str, torch.Tensor]:
    """The perceptual terms, weighted, each sample against its own photo and style crop."""
    content = relative(out_feats[cfg.content_layer].float(), content_feats[cfg.content_layer].float())
    style = sum(relative(gram_matrix(out_feats[n]), gram_matrix(style_feats[n])) for n in STYLE_LAYERS)
    stats = 0.0
    for n in STYLE_LAYERS:
        (mo, so), (ms, ss) = channel_stats(out_feats[n]), channel_stats(style_feats[n])
        stats = stats + relative(torch.cat([mo, so], 1), torch.cat([ms, ss], 1))
    return {"content": cfg.content_weight * content, "style": cfg.style_weight * style,
            "stats": cfg.stats_weight * stats}


def build_net(cfg: ArbitraryConfig) -> ArbitraryStyleNet:
    return ArbitraryStyleNet(cfg.width, cfg.enc_blocks, cfg.dec_blocks, cfg.hidden, cfg.output, cfg.code)


def initial_weights(path: str, net: ArbitraryStyleNet) -> tuple[dict, int]:
    """--init: the weights for `net` and the steps behind them, from a training checkpoint or
    an exported PREFIX.frame.onnx (an installed model too). The same network but for its output
    may start from a shuffle-output one (shuffle_to_bilinear); a vgg-code one from a light-code
    one, its VGG part starting at zero (the light network's output)."""
    if str(path).endswith(".onnx"):
        source, meta = arbitrary_net_from_onnx(path)
        weights, steps = source.state_dict(), int(meta.get("steps", 0))
    else:
        state = load_state(path)
        try:
            source, weights = build(state["extra"]["model_config"]), state["state/model"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"--init {path}: not an arbitrary-style training checkpoint ({exc})") from None
        steps = int(state["step"]) + int(state["extra"].get("steps_before", 0))
    same_body = {**source.config(), "output": None, "code": None} == {**net.config(), "output": None, "code": None}
    if not same_body or source.output not in (net.output, "shuffle") or source.code not in (net.code, "light"):
        raise ValueError(f"--init {path} holds a {source.config()} network, not {net.config()}")
    if source.output != net.output:
        weights = shuffle_to_bilinear(weights)
    if source.code != net.code:
        weights = {**{k: v for k, v in net.state_dict().items() if k.startswith("vgg_mlp.")}, **weights}
    return weights, steps


def train(cfg: ArbitraryConfig) -> dict:
    return services.run_training(cfg.device, lambda rt: _train(cfg, rt))


def _train(cfg: ArbitraryConfig, rt: services.Runtime) -> dict:
    services.seed_everything(cfg.seed)
    dev = rt.device
    channels_last = torch.channels_last if dev.type == "cpu" else torch.contiguous_format
    photos, _ = training_pictures(cfg.data)
    style_paths, refused = training_pictures(cfg.styles)
    content = PictureSampler(photos, cfg.size, scale=(0.25, 1.0), max_side=640, seed=cfg.seed)
    styles = PictureSampler(style_paths, cfg.style_size, scale=(0.1, 1.0), seed=cfg.seed + 1)
    if rt.is_main:
        print(f"{len(content)} photos, {len(styles)} style pictures ({len(refused)} held out, refused)")
    vgg = VGGFeatures(load_vgg16_features(cfg.vgg_weights)).to(dev, memory_format=channels_last)
    net = build_net(cfg).to(dev, memory_format=channels_last)
    run_dir = cfg.run_dir
    # --init starts a run; once the run has a checkpoint, --resume continues it.
    resume = cfg.resume and (not cfg.init or (run_dir / "checkpoint.pt").is_file())
    steps_before = 0
    if cfg.init and not resume:
        weights, steps_before = initial_weights(cfg.init, net)
        net.load_state_dict(weights)
    training = services.NetTraining(net, cfg.lr, rt, cfg.precision, run_dir, resume, clip_grad_norm=10.0)
    steps_before = int(training.resumed_extra.get("steps_before", steps_before))
    model = training.model

    fixed_photos = content.batch(-1, 4).to(dev)
    fixed_styles = styles.batch(-1, 4).to(dev)
    logger = services.Logger(rt, run_dir / "tb", total=cfg.steps, initial=training.step, desc="arbitrary")
    history: list[dict] = []
    start, start_step = time.perf_counter(), training.step
    stop = False
    while training.step < cfg.steps and not stop:
        step = training.step
        x = content.batch(step, cfg.batch, rt.rank).to(dev).contiguous(memory_format=channels_last)
        s = styles.batch(step, cfg.batch, rt.rank).to(dev).contiguous(memory_format=channels_last)
        with services.autocast(dev, cfg.precision):
            with torch.no_grad():
                content_feats, style_feats = vgg(x), vgg(s)
            code = net.style_code(s, style_feats)
            both = model(torch.cat([x, x]), torch.cat([code, code]),
                         torch.cat([torch.ones(len(x), device=dev), torch.zeros(len(x), device=dev)]))
            y, y_self = both.chunk(2)
            terms = losses(cfg, vgg(y), content_feats, style_feats)
            terms["identity"] = cfg.identity_weight * F.l1_loss(y_self.float(), x.float())
            terms["tv"] = cfg.tv_weight * total_variation(y)
            terms["total"] = sum(terms[k] for k in LOSS_NAMES[1:])
        training.update(terms["total"])
        step = training.step
        stop = services.time_is_up(start, cfg.max_minutes, rt)

        scalars = services.mean_across_ranks(torch.stack([terms[k].detach().float() for k in LOSS_NAMES]), rt)
        record = dict(zip(LOSS_NAMES, scalars.tolist()), step=step)
        history.append(record)
        logger.step(step, {k: record[k] for k in LOSS_NAMES[:5]})
        last = step == cfg.steps or stop
        if rt.is_main and (step % cfg.sample_every == 0 or last):
            _write_samples(net, vgg, fixed_photos, fixed_styles, run_dir / "samples" / f"step{step:06d}.png", logger, step)
        if rt.is_main and (step % cfg.checkpoint_every == 0 or last):
            training.save({"config": asdict(cfg), "steps_before": steps_before})
    logger.close()
    elapsed = time.perf_counter() - start
    result = {"steps": step, "seconds": elapsed, "steps_per_second": (step - start_step) / max(elapsed, 1e-9),
              "history": history}
    if rt.is_main and cfg.export:
        from exports.arbitrary import export_arbitrary
        result["exports"] = {k: (str(p), d) for k, (p, d) in
                             export_arbitrary(net, cfg.out, export_metadata(asdict(cfg), steps_before + step),
                                                  vgg.features).items()}
    return result


def export_metadata(config: dict, step: int) -> dict:
    from exports.arbitrary import training_metadata
    return training_metadata(config, Path(config["out"]).name, step)


@torch.no_grad()
def _write_samples(net, vgg, photos, styles, path: Path, logger: services.Logger, step: int) -> None:
    """Rows: the photos, the style crops, each photo in its column's style, each at strength 0."""
    was_training = net.training
    net.eval()
    code = net.style_code(styles, vgg(styles) if net.code == "vgg" else None)   # a light code needs no VGG16
    out = net(photos, code, 1.0)
    own = net(photos, code, 0.0)
    net.train(was_training)
    logger.grid("samples", torch.cat([photos, styles, out.float(), own.float()]), path, step, nrow=len(photos))

"""`image`: pictures through a trained style model, or optimized against a painting (Gatys
et al.), each written beside its input or into the output: a file for one picture, a folder
for a batch (jobs/batch.py), where a picture that fails is reported and the rest still written."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from stylestream.errors import UserError
from stylestream.imagefile import READABLE_SUFFIXES, WRITABLE_SUFFIXES, read_image, write_image
from stylestream.jobs.batch import expand_inputs, failure, is_batch, names_a_folder, output_folder
from stylestream.jobs.progress import progress_bar, signal_name, stop_on_signals
from stylestream.sinks import refuse_overwriting_inputs, write_error
from stylestream.stylizer import Stylizer, finish


def image_output_path(src: Path, out: str | None, style: str, batch: bool, alpha: bool) -> Path:
    """INPUT.STYLE.ext beside the input or in the output folder, or the output file itself.
    ext is the input's own where it can be written (PNG where not, or to keep alpha)."""
    suffix = ".png" if alpha else (src.suffix if src.suffix.lower() in WRITABLE_SUFFIXES else ".png")
    name = f"{src.stem}.{style}{suffix}"
    if out is None:
        return src.with_name(name)
    if batch or names_a_folder(out):
        return Path(out) / name     # a folder, created when the first image is written
    if not Path(out).suffix:
        raise UserError(f"-o {out}: has no suffix to say the image type; name a file (e.g. {out}.png), "
                        f"or end it with / for a folder")
    return Path(out)


def _refuse_overwriting_images(paths: list[Path], out: str | None, style: str, batch: bool, others=()) -> None:
    """Before any image is read or written: no output may be one of the inputs (or the
    style's file). An input's output suffix depends on its alpha, so both are checked."""
    inputs = [*paths, *others]
    for p in paths:
        for alpha in (False, True):
            refuse_overwriting_inputs(image_output_path(p, out, style, batch, alpha), inputs)


def _write_output_image(dst: Path, rgb: np.ndarray, alpha: np.ndarray | None, depth: int) -> None:
    if not dst.parent.exists():
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(dst.parent, exc) from None
    write_image(dst, rgb, alpha, depth)


def _each_image(specs: list[str], out: str | None, style: str, others: list, stylize: Callable,
                progress: bool, unit: str = "image", per_image: int = 1) -> dict:
    """Reads, stylizes (`stylize(rgb, bar)` -> RGB, advancing the bar by `per_image` in all)
    and writes each input in turn. In a batch a picture that fails is recorded and the next one
    goes on; a single picture's failure is the command's. SIGINT/SIGTERM finish the picture
    under way and stop there."""
    batch = is_batch(specs)
    found = expand_inputs(specs, READABLE_SUFFIXES, "images", skip_stylized=style if batch else None)
    _refuse_overwriting_images(found.files, out, style, batch, others)
    if batch and out is not None:
        output_folder(out, WRITABLE_SUFFIXES, "images")
    results, failed, written = [], list(found.failed), {}
    stop = threading.Event()
    start = time.perf_counter()
    with stop_on_signals(stop) as caught:
        # A bar for a batch, or for the many steps of each picture; one quick picture needs none.
        bar = progress_bar(len(found.files) * per_image, progress and (batch or per_image > 1), unit=unit)
        try:
            for src in found.files:
                if stop.is_set():
                    break
                done = bar.n
                try:
                    rgb, alpha, depth = read_image(src)
                    dst = image_output_path(src, out, style, batch, alpha is not None)
                    key = os.path.abspath(dst)
                    if key in written:
                        raise UserError(f"{src}: its output {dst} is also that of {written[key]}; "
                                        "rename one of them")
                    _write_output_image(dst, stylize(rgb, bar), alpha, depth)
                except (UserError, OSError) as exc:
                    if not batch:
                        raise
                    failed.append(failure(src, exc))
                else:
                    written[key] = src
                    results.append({"input": str(src), "output": str(dst), "width": rgb.shape[1],
                                    "height": rgb.shape[0]})
                bar.update(done + per_image - bar.n)
        finally:
            bar.close()
    return {"images": results, "failed": failed, "batch": batch, "style": style,
            "seconds": round(time.perf_counter() - start, 3), "interrupted": bool(caught),
            "signal": signal_name(caught)}


def optimize_images(specs: list[str], out: str | None, style_image: str, max_size: int, steps: tuple[int, ...],
                    optimizer: str, scales: tuple[float, ...], vgg_weights: str | None, device: str,
                    balance: float, max_seconds: float | None = None, strength: float = 1.0,
                    keep_color: bool = False, progress: bool = False) -> dict:
    """Gatys optimization of each image against `style_image` (no trained model involved),
    `steps[i]` at `scales[i]`, each image within `max_seconds` where given, with one bar over
    all the optimization steps of the batch."""
    import cv2
    import torch

    from stylenets.gatys import GatysConfig, optimize
    from stylenets.perceptual import VGGFeatures, load_vgg16_features
    from stylenets.devices import pick_device

    if not Path(style_image).is_file():
        raise UserError(f"style image not found: {style_image}")
    try:
        dev = pick_device(device)
        vgg = VGGFeatures(load_vgg16_features(vgg_weights)).to(dev)
    except ValueError as exc:  # no such device, or unusable VGG weights (VggWeightsError)
        raise UserError(str(exc)) from None
    style_rgb, _, _ = read_image(Path(style_image))
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float().div(255).unsqueeze(0).to(dev)  # noqa: E731
    style = to_tensor(style_rgb)
    cfg = GatysConfig(steps=steps, optimizer=optimizer, scales=scales, balance=balance, max_seconds=max_seconds)

    def stylize(rgb: np.ndarray, bar) -> np.ndarray:
        h, w = rgb.shape[:2]
        s = min(1.0, max_size / max(h, w))
        small = cv2.resize(rgb, (max(16, round(w * s)), max(16, round(h * s))), interpolation=cv2.INTER_AREA)
        first = bar.n

        def on_step(step: int, _losses) -> None:
            bar.update(first + step - bar.n)

        out_t = optimize(to_tensor(small), style, vgg, cfg, on_step=on_step)
        styled = (out_t[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        styled = cv2.resize(styled, (w, h), interpolation=cv2.INTER_CUBIC) if styled.shape[:2] != (h, w) else styled
        return finish(styled, rgb, strength, keep_color)

    summary = _each_image(specs, out, Path(style_image).stem, [style_image, vgg_weights], stylize, progress,
                          unit="step", per_image=sum(steps))
    return {**summary, "method": f"gatys-{optimizer}", "device": str(dev)}


def stylize_images(specs: list[str], out: str | None, stylizer: Stylizer, regions=None, *, others=(),
                   progress: bool = False) -> dict:
    """Each image through the stylizer, one bar over the batch. `regions` (regions.Regions):
    the style inside a region only, the source or a background style outside it; `others`:
    further input files (a mask, a background style) no output may overwrite."""
    def stylize(rgb: np.ndarray, _bar) -> np.ndarray:
        styled = stylizer(rgb)
        if regions is None:
            return styled
        regions.reset()         # each picture on its own: no history from the one before
        return regions.finish(styled, rgb, regions.segment(rgb), None)

    summary = _each_image(specs, out, stylizer.engine.name, [stylizer.engine.path, *others], stylize, progress)
    return {**summary, "device": stylizer.engine.device,
            **({"regions": regions.describe()} if regions is not None else {})}

"""`image`: pictures through a trained style model, or optimized against a painting (Gatys
et al.), each written beside its input or into the output folder."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from stylestream.errors import UserError
from stylestream.imagefile import read_image, write_image
from stylestream.jobs.progress import signal_name, stop_on_signals
from stylestream.sinks import refuse_overwriting_inputs, write_error
from stylestream.stylizer import Stylizer, finish


def image_output_path(src: Path, out: str | None, style: str, many: bool, alpha: bool) -> Path:
    suffix = ".png" if alpha else (src.suffix if src.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff") else ".png")
    name = f"{src.stem}.{style}{suffix}"
    if out is None:
        return src.with_name(name)
    o = Path(out)
    if many or o.is_dir() or out.endswith(os.sep) or not o.suffix:
        return o / name     # a folder, created when the first image is written
    return o


def _refuse_overwriting_images(paths: list[str], out: str | None, style: str, others=()) -> None:
    """Before any image is read or written: no output may be one of the inputs (or the
    style's file). An input's output suffix depends on its alpha, so both are checked."""
    inputs = [*paths, *others]
    for p in paths:
        for alpha in (False, True):
            refuse_overwriting_inputs(image_output_path(Path(p), out, style, len(paths) > 1, alpha), inputs)


def _write_output_image(dst: Path, rgb: np.ndarray, alpha: np.ndarray | None, depth: int) -> None:
    if not dst.parent.exists():
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(dst.parent, exc) from None
    write_image(dst, rgb, alpha, depth)


def optimize_images(paths: list[str], out: str | None, style_image: str, max_size: int, steps: int,
                    optimizer: str, scales: tuple[float, ...], vgg_weights: str | None, device: str,
                    strength: float = 1.0, keep_color: bool = False) -> dict:
    """Gatys optimization of each image against `style_image` (no trained model involved)."""
    import cv2
    import torch

    from stylenets.gatys import GatysConfig, optimize
    from stylenets.perceptual import VGGFeatures, load_vgg16_features
    from stylenets.devices import pick_device

    _refuse_overwriting_images(paths, out, Path(style_image).stem, [style_image, vgg_weights])
    try:
        dev = pick_device(device)
        vgg = VGGFeatures(load_vgg16_features(vgg_weights)).to(dev)
    except ValueError as exc:  # no such device, or unusable VGG weights (VggWeightsError)
        raise UserError(str(exc)) from None
    style_rgb, _, _ = read_image(Path(style_image))
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float().div(255).unsqueeze(0).to(dev)  # noqa: E731
    style = to_tensor(style_rgb)
    cfg = GatysConfig(steps=steps, optimizer=optimizer, scales=scales)
    results, start = [], time.perf_counter()
    for p in paths:
        src = Path(p)
        rgb, alpha, depth = read_image(src)
        h, w = rgb.shape[:2]
        s = min(1.0, max_size / max(h, w))
        small = cv2.resize(rgb, (max(16, round(w * s)), max(16, round(h * s))), interpolation=cv2.INTER_AREA)
        out_t = optimize(to_tensor(small), style, vgg, cfg)
        styled = (out_t[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        styled = cv2.resize(styled, (w, h), interpolation=cv2.INTER_CUBIC) if styled.shape[:2] != (h, w) else styled
        styled = finish(styled, rgb, strength, keep_color)
        dst = image_output_path(src, out, Path(style_image).stem, len(paths) > 1, alpha is not None)
        _write_output_image(dst, styled, alpha, depth)
        results.append({"input": str(src), "output": str(dst), "width": w, "height": h})
    return {"images": results, "style": Path(style_image).stem, "method": f"gatys-{optimizer}",
            "device": str(dev), "seconds": round(time.perf_counter() - start, 3)}


def stylize_images(paths: list[str], out: str | None, stylizer: Stylizer) -> dict:
    """Each image in turn. SIGINT/SIGTERM finish the image under way and stop there."""
    _refuse_overwriting_images(paths, out, stylizer.engine.name, [stylizer.engine.path])
    results = []
    start = time.perf_counter()
    stop = threading.Event()
    with stop_on_signals(stop) as caught:
        for p in paths:
            if stop.is_set():
                break
            src = Path(p)
            rgb, alpha, depth = read_image(src)
            styled = stylizer(rgb)
            dst = image_output_path(src, out, stylizer.engine.name, len(paths) > 1, alpha is not None)
            _write_output_image(dst, styled, alpha, depth)
            results.append({"input": str(src), "output": str(dst), "width": rgb.shape[1], "height": rgb.shape[0]})
    return {"images": results, "style": stylizer.engine.name, "device": stylizer.engine.device,
            "seconds": round(time.perf_counter() - start, 3), "interrupted": bool(caught),
            "signal": signal_name(caught)}

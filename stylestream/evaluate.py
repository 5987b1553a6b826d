"""`stylestream eval`: quality figures of stylized output.

`eval style` — how close stylized images are to the style, and to the content:

style distance: mean over relu1_2…relu4_3 of ‖G(output) − G(style)‖ / ‖G(style)‖
content distance: ‖F(output) − F(content)‖ / ‖F(content)‖ at relu3_3
(VGG16, ImageNet weights; lower is better on both axes). The style image is compared at
`--style-size` on its longer side, the content photo at each output's own size.

`eval temporal` — how stable a stylized video is, and how sharp:
warping error: optical flow on consecutive *source* frames (at the output's size; DIS, or
with `--flow farneback` a method unrelated to the runtime's DIS), a
forward–backward occlusion mask, and the masked mean squared difference between each
output frame and the previous output warped onto it, RGB in [0, 1]; averaged over frames.
sharpness: mean absolute Laplacian of the output's luma in [0, 1].
"""
from __future__ import annotations

from pathlib import Path

from stylestream.errors import UserError
from stylestream.temporal import TemporalParams


def style_quality(outputs: list[str], content: str, style_image: str, vgg_weights: str | None = None,
                  style_size: int = 512) -> dict:
    import cv2
    import torch

    from stylenets.perceptual import VGGFeatures, VggWeightsError, load_vgg16_features, style_distances
    from stylestream.imagefile import read_image

    try:
        vgg = VGGFeatures(load_vgg16_features(vgg_weights))
    except VggWeightsError as exc:
        raise UserError(str(exc)) from None

    def load(path: str, max_side: int | None = None) -> torch.Tensor:
        rgb, _, _ = read_image(Path(path))
        h, w = rgb.shape[:2]
        if max_side and max(h, w) > max_side:
            s = max_side / max(h, w)
            rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).unsqueeze(0)

    content_t, style_t = load(content), load(style_image, style_size)
    rows = []
    for out in outputs:
        d = style_distances(vgg, load(out), content_t, style_t)
        rows.append({"output": out, **{k: round(v, 4) for k, v in d.items()}})
    return {"content": content, "style_image": style_image, "style_size": style_size, "results": rows}


def video_frames(path: str):
    """Each video frame of a file as an RGB array, in order."""
    from stylestream.sources import VideoFileSource, VideoItem

    source = VideoFileSource(path)
    try:
        for item in source.items():
            if isinstance(item, VideoItem):
                yield item.image
    finally:
        source.close()


METRIC_FLOWS = ("dis", "farneback")
# The metric's flow settings: DIS as its MEDIUM preset has them, at 640 px, mask eroded.
METRIC_PARAMS = TemporalParams(flow_side=640, patch_stride=3, descent_iterations=25, refinement_iterations=5,
                               erode_mask=True)


def metric_flow(method: str = "dis", flow_side: int = METRIC_PARAMS.flow_side):
    """The metric's motion estimator, frame → Motion: DIS as MEDIUM has it (stride 3, 25 descent
    steps, 5 refinements, both directions alike) at 640 px, whatever the runtime uses; or
    Farnebäck, which shares no error with the runtime's DIS flow. The mask is eroded, as the
    metric has always had it, whatever the runtime's blend does."""
    from dataclasses import replace

    from stylestream.temporal.cpu import CpuTemporal, dis_flow, farneback_flow

    if method not in METRIC_FLOWS:
        raise UserError(f"--flow must be one of {', '.join(METRIC_FLOWS)}")
    params = replace(METRIC_PARAMS, flow_side=flow_side)
    return CpuTemporal(params=params, flow=dis_flow(params) if method == "dis" else farneback_flow).estimate


def sharpness(image) -> float:
    """Mean absolute Laplacian of an RGB uint8 image's luma in [0, 1]."""
    import cv2
    import numpy as np

    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


def score_frames(pairs) -> dict:
    """Warping error and sharpness of output frames, from (output frame, the metric's Motion
    for its source frame) pairs in order."""
    import cv2
    import numpy as np

    from stylestream.temporal.cpu import warp

    errors, sharp, previous, n = [], [], None, 0
    for out, motion in pairs:
        n += 1
        sharp.append(sharpness(out))
        current = out.astype(np.float32) / 255
        if previous is not None and motion.backward is not None:
            warped = warp(previous, motion.backward)
            mask = cv2.resize(motion.mask, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_NEAREST)
            if mask.sum() > 0:
                sq = ((current - warped) ** 2).mean(-1)
                errors.append(float((sq * mask).sum() / mask.sum()))
        previous = current
    if n < 2:
        raise UserError("eval temporal needs at least two frames")
    return {"frames": n, "warping_error": float(np.mean(errors)) if errors else 0.0,
            "sharpness": float(np.mean(sharp))}


def temporal_quality(source: str, output: str, flow_side: int = METRIC_PARAMS.flow_side, method: str = "dis") -> dict:
    import cv2

    flow = metric_flow(method, flow_side)

    def pairs():
        for src, out in zip(video_frames(source), video_frames(output)):
            if src.shape[:2] != out.shape[:2]:
                src = cv2.resize(src, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
            yield out, flow(src)

    return {"source": source, "output": output, "flow": method, **score_frames(pairs())}

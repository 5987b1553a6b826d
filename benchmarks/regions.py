"""Region stylization: how much the person mask's seam flickers, and what region modes cost.

    python benchmarks/regions.py [--frames 150] [--repeats 3] [--style candy] [--background-style mosaic]

(a) Mask flicker on ../shared/data/video/person.mp4: each frame's mask against the previous
frame's mask moved along the source's motion (Farnebäck flow, which shares nothing with the
runtime's DIS flow, and its eroded forward–backward mask: occluded pixels are left out), as the
mean absolute difference inside a band of ±--band px around the seam (the per-frame mask's 0.5
contour). The flow-stabilised mask (what the product uses) against the net's per-frame mask,
both from the same net calls; and the warping error (mean squared RGB difference in [0, 1]) of
the stylized output (--region background) inside and outside the band, for both masks.

(b) Speed at 640×360: `video` end to end (decode, flow, net, mask, blend, compose, encode) on
--frames frames of person.mp4 set in a 640×360 frame, plain, --region background and
--background-style, the modes taking turns --repeats times; FPS medians and their ratios.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from peer import machine_name  # noqa: E402

from stylestream import api  # noqa: E402
from stylestream.evaluate import metric_flow, video_frames  # noqa: E402
from stylestream.regions import DEFAULT_FEATHER, MASK_HISTORY  # noqa: E402

CLIP = HERE.parent.parent / "shared" / "data" / "video" / "person.mp4"
SPEED_SIZE = (640, 360)


def seam_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within `radius` px of the mask's 0.5 contour."""
    import cv2

    inside = (mask >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, kernel).astype(bool)


def full_size(mask: np.ndarray, frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(mask, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)


def stylize_with_masks(frames, style: str, stabilised: bool, max_size: int, history: float):
    """(output, mask at frame size) per frame: --region background through the live stylizer."""
    stream = api.open(style, max_size=max_size, region="background", feather=DEFAULT_FEATHER)
    stream.regions.tracker.stabilized, stream.regions.tracker.history = stabilised, history
    with stream:
        for frame in frames:
            out = stream(frame)
            yield out, full_size(stream.regions.last_mask, frame)


def flicker(frames, style: str, band: int, max_size: int, history: float = MASK_HISTORY) -> dict:
    """Mask flicker in the band and the output's warping error in and out of it, both masks."""
    from stylestream.temporal.cpu import warp

    metric = metric_flow("farneback")
    motions = [metric(f) for f in frames]
    runs = {name: list(stylize_with_masks(frames, style, name == "stabilised", max_size, history))
            for name in ("per-frame", "stabilised")}
    # One band for both: around the per-frame mask's seam in the current frame.
    bands = [seam_band(mask, band) for _, mask in runs["per-frame"]]
    rows = {}
    for name, run in runs.items():
        change, inside, outside = [], [], []
        for t in range(1, len(frames)):
            motion = motions[t]
            if motion.backward is None:
                continue
            trusted = full_size(motion.mask, frames[t]) > 0.5
            here, there = bands[t] & trusted, ~bands[t] & trusted
            moved = warp(run[t - 1][1], motion.backward, interpolation=1)
            change.append(float(np.abs(run[t][1] - moved)[here].mean()))
            out = run[t][0].astype(np.float32) / 255
            previous = warp(run[t - 1][0].astype(np.float32) / 255, motion.backward)
            sq = ((out - previous) ** 2).mean(-1)
            inside.append(float(sq[here].mean()))
            outside.append(float(sq[there].mean()))
        rows[name] = {"mask_change": statistics.mean(change), "warp_in_band": statistics.mean(inside),
                      "warp_outside": statistics.mean(outside)}
    return rows


def speed_clip(frames, path: Path) -> Path:
    """The frames set in a 640×360 picture: scaled to its height, over their own blurred stretch."""
    import av
    import cv2

    width, height = SPEED_SIZE
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            canvas = cv2.GaussianBlur(cv2.resize(frame, (width, height)), (0, 0), 8)
            h, w = frame.shape[:2]
            small = cv2.resize(frame, (round(w * height / h), height), interpolation=cv2.INTER_AREA)
            x = (width - small.shape[1]) // 2
            canvas[:, x:x + small.shape[1]] = small
            out.mux(stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def speed(frames, style: str, background_style: str, repeats: int) -> dict:
    modes = {"plain": {}, "region": {"region": "background"}, "two-style": {"background_style": background_style}}
    fps: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        clip = speed_clip(frames, Path(tmp) / "person640.mp4")
        api.video(clip, Path(tmp) / "warm.mp4", style)      # first-run costs (loading, caches) left out
        for _ in range(repeats):
            for mode, extra in modes.items():
                out = Path(tmp) / f"{mode}.mp4"
                fps[mode].append(api.video(clip, out, style, **extra)["fps"])
                out.unlink()
    medians = {m: statistics.median(v) for m, v in fps.items()}
    return {"fps": fps, "median": medians,
            "region_ratio": medians["region"] / medians["plain"],
            "two_style_ratio": medians["two-style"] / medians["plain"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=150, help="frames of person.mp4 used (default 150)")
    p.add_argument("--repeats", type=int, default=3, help="turns of each speed mode (default 3)")
    p.add_argument("--style", default="candy")
    p.add_argument("--background-style", default="mosaic")
    p.add_argument("--band", type=int, default=8, help="half-width of the seam band, px (default 8)")
    p.add_argument("--max-size", type=int, default=640)
    p.add_argument("--history", type=float, default=MASK_HISTORY,
                   help=f"weight of the warped previous mask where trusted (default {MASK_HISTORY})")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-flicker", action="store_true")
    args = p.parse_args()
    if not CLIP.exists():
        sys.exit(f"needs {CLIP}")
    frames = [f for _, f in zip(range(args.frames), video_frames(str(CLIP)))]
    print(f"{machine_name()}; {len(frames)} frames of {CLIP.name} ({frames[0].shape[1]}×{frames[0].shape[0]}), "
          f"style {args.style}, band ±{args.band} px")
    if not args.skip_flicker:
        rows = flicker(frames, args.style, args.band, args.max_size, args.history)
        print(f"{'mask':12s} {'mask change in band':>20s} {'warp err in band':>17s} {'warp err outside':>17s}")
        for name, r in rows.items():
            print(f"{name:12s} {r['mask_change']:20.5f} {r['warp_in_band']:17.6f} {r['warp_outside']:17.6f}")
        print(f"flicker ratio (per-frame / stabilised): "
              f"{rows['per-frame']['mask_change'] / rows['stabilised']['mask_change']:.2f}×")
    if args.skip_speed:
        return
    s = speed(frames, args.style, args.background_style, args.repeats)
    for mode, values in s["fps"].items():
        print(f"{mode:10s} FPS {' '.join(f'{v:.1f}' for v in values)}  median {s['median'][mode]:.1f}")
    print(f"region / plain {s['region_ratio']:.2f}×   two-style / plain {s['two_style_ratio']:.2f}×")


if __name__ == "__main__":
    main()

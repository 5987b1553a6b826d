"""Offline sweep of the temporal blend's settings, for tuning them: the per-frame outputs and
the metric's flow are computed once; then each configuration is blended, encoded as the
video sink encodes, and scored as `eval temporal` scores.

    python benchmarks/temporal_sweep.py [CLIP] [--style starry] [--arch compact] [--frames N]
        [--flow-side 320 400] [--refinements 3 5] [--forward-refinements 1 3] [--gain 1.33 1.42]
        [--snap-from 0.5 99]

Every combination of the listed values is run (`--snap-from 99`: cubic resampling
everywhere). Ratios are against the per-frame output, as in `benchmarks/temporal.py`; the
flow and blend columns are milliseconds a frame on one core. Frames are scored at the
processing size (640 px by default), so for a clip that the video job scales back up, such
as bigbuckbunny.mp4, the figures differ a little from `temporal.py`'s.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from dataclasses import replace  # noqa: E402

from stylestream.temporal import TemporalParams  # noqa: E402
from stylestream.temporal.cpu import CpuTemporal  # noqa: E402
from stylestream.backends import open_engine  # noqa: E402
from stylestream.evaluate import metric_flow, score_frames, video_frames  # noqa: E402
from stylestream.sinks import VideoFileSink  # noqa: E402
from stylestream.stylizer import Stylizer  # noqa: E402
from stylestream.zoo import resolve_style  # noqa: E402

DEFAULT_CLIP = HERE.parent.parent / "shared" / "data" / "video" / "bikes.mp4"


def encode_decode(frames: list, path: Path) -> list:
    """Through the video sink's x264 settings and back, as the metric sees a written video."""
    h, w = frames[0].shape[:2]
    sink = VideoFileSink(path, w, h, Fraction(25), Fraction(1, 25), [])
    for i, frame in enumerate(frames):
        sink.write(frame, i, Fraction(1, 25))
    sink.close()
    return list(video_frames(str(path)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--style", default="starry")
    p.add_argument("--arch", default="compact", choices=["johnson", "compact"])
    p.add_argument("--max-size", type=int, default=640)
    p.add_argument("--frames", type=int, default=0, help="only the first N frames (0: all)")
    p.add_argument("--strength", type=float, default=0.8)
    runtime = TemporalParams()
    p.add_argument("--flow-side", type=int, nargs="+", default=[runtime.flow_side])
    p.add_argument("--refinements", type=int, nargs="+", default=[runtime.refinement_iterations])
    p.add_argument("--forward-refinements", type=int, nargs="+", default=[runtime.forward_refinement_iterations],
                   help="the forward flow's, which only feeds the mask")
    p.add_argument("--gain", type=float, nargs="+", default=[runtime.max_gain])
    p.add_argument("--snap-from", type=float, nargs="+", default=[runtime.snap_from])
    args = p.parse_args()
    cv2.setNumThreads(0)        # as in the video job: one core per stage

    stylizer = Stylizer(open_engine(resolve_style(args.style, args.arch), "cpu"), args.max_size)
    sources = list(video_frames(str(args.clip)))
    if args.frames:
        sources = sources[:args.frames]
    styled = [stylizer.infer(frame) for frame in sources]
    h, w = styled[0].shape[:2]
    sources = [cv2.resize(s, (w, h), interpolation=cv2.INTER_AREA) if s.shape[:2] != (h, w) else s
               for s in sources]
    metric = metric_flow()
    motions = [metric(s) for s in sources]

    with tempfile.TemporaryDirectory() as tmp:
        def score(frames: list) -> dict:
            return score_frames(zip(encode_decode(frames, Path(tmp) / "sweep.mp4"), motions))

        base = score(styled)
        print(f"# {args.clip.name}, {len(sources)} frames at {w}×{h}, {args.style} {args.arch}: per-frame warping "
              f"error {base['warping_error']:.5f}, sharpness {base['sharpness']:.4f}")
        print(f"{'flow px':>7s} {'refine':>6s} {'fwd':>3s} {'gain':>5s} {'snap':>5s} {'× error':>8s} {'× sharp':>8s} "
              f"{'flow ms':>8s} {'blend ms':>8s}")
        for side, refinements, forward, gain, snap in itertools.product(
                args.flow_side, args.refinements, args.forward_refinements, args.gain, args.snap_from):
            params = replace(runtime, flow_side=side, refinement_iterations=refinements,
                             forward_refinement_iterations=forward, max_gain=gain, snap_from=snap)
            temporal = CpuTemporal(args.strength, params)
            t0 = time.perf_counter()
            moved = [temporal.estimate(s) for s in sources]
            t1 = time.perf_counter()
            blended = [temporal.blend(s, m) for s, m in zip(styled, moved)]
            t2 = time.perf_counter()
            r = score(blended)
            n = len(sources)
            print(f"{side:7d} {refinements:6d} {forward:3d} {gain:5.2f} {snap:5.2f} "
                  f"{r['warping_error'] / base['warping_error']:8.3f} {r['sharpness'] / base['sharpness']:8.3f} "
                  f"{1000 * (t1 - t0) / n:8.2f} {1000 * (t2 - t1) / n:8.2f}", flush=True)


if __name__ == "__main__":
    main()

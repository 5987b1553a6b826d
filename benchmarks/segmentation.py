"""CPU cost of the bundled person segmentation net, per runtime, on one thread.

    python benchmarks/segmentation.py [--repeats 50] [--size 640x360] [--variant landscape]

Frames of ../shared/data/video/person.mp4 (smooth noise without it) resized to --size. Each row:
median (and 10th-percentile) ms for the net alone at its input size, and for a whole
PersonSegmenter call on a --size frame (warp to the net's input, net, mask resized back), with
its agreement with ONNX Runtime's mask. The runtimes take turns call by call. OpenVINO rows
need OpenVINO installed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from engine_backends import sample_frames  # noqa: E402
from peer import machine_name  # noqa: E402

from stylestream.backends.select import hardware  # noqa: E402
from stylestream.segmentation import RUNTIMES, VARIANTS, PersonSegmenter  # noqa: E402

CLIP = HERE.parent.parent / "shared" / "data" / "video" / "person.mp4"


def interleaved_ms(runs: dict, inputs: list, repeats: int) -> dict[str, tuple[float, float]]:
    """Median and 10th-percentile ms per call of each run. The runs take turns call by call, so
    a load that comes and goes on a shared machine weighs on all of them alike."""
    for run in runs.values():
        for x in inputs[:3]:
            run(x)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        for name, run in runs.items():
            t = time.perf_counter()
            run(x)
            times[name].append(time.perf_counter() - t)
    return {name: (statistics.median(t) * 1000, float(np.percentile(t, 10)) * 1000) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--size", default="640x360", help="W×H of the frames")
    p.add_argument("--variant", default="landscape", choices=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    rgb = sample_frames(CLIP, width, height)
    runtimes = [r for r in RUNTIMES if r != "auto" and (r != "openvino" or hardware().openvino)]
    print(f"{machine_name()}; {args.variant} net, {args.threads} thread(s), {args.size} frames, "
          f"{args.repeats} calls each")
    segmenters = {r: PersonSegmenter(args.variant, runtime=r, threads=args.threads) for r in runtimes}
    first = segmenters["onnxruntime"]
    net_inputs = [first.preprocess(f) for f in rgb]
    net = interleaved_ms({r: s.infer for r, s in segmenters.items()}, net_inputs, args.repeats)
    whole = interleaved_ms(segmenters, rgb, args.repeats)
    reference = [first(f) for f in rgb]
    h, w = first.input_size
    for runtime, seg in segmenters.items():
        diff = max(float(np.abs(seg(f) - m).max()) for f, m in zip(rgb, reference))
        print(f"{runtime:12s} net {w}x{h}: {net[runtime][0]:6.2f} ms (p10 {net[runtime][1]:5.2f})   "
              f"whole call at {args.size}: {whole[runtime][0]:6.2f} ms (p10 {whole[runtime][1]:5.2f})   "
              f"max |mask - onnxruntime's| {diff:.1e}")

if __name__ == "__main__":
    main()

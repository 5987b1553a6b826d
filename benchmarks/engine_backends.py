"""Engine-only CPU speed and output parity of one style net in ONNX Runtime and OpenVINO.

    python benchmarks/engine_backends.py [--style starry] [--arch compact] [--size 640x272]
    (OpenVINO rows need `pip install openvino`, which stylestream does not depend on yet)

Each row: median milliseconds a frame with one thread on one core, the same with one
single-threaded run per core side by side (how `stylestream video` runs the net on the
CPU), and PSNR of the output against ONNX Runtime's fp32 on frames of bikes.mp4. The point is
to see whether another CPU runtime is worth a backend before writing one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from peer import machine_name  # noqa: E402

from stylestream.backends.onnxruntime import onnx_session  # noqa: E402
from stylestream.zoo import resolve_style  # noqa: E402

CLIP = HERE.parent.parent / "shared" / "data" / "video" / "bikes.mp4"


def sample_frames(clip: Path, width: int, height: int, count: int = 10) -> list[np.ndarray]:
    """`count` RGB uint8 frames spread over `clip`, resized to width×height; smooth noise
    where the clip is absent."""
    import cv2
    if clip.exists():
        import av
        with av.open(str(clip)) as c:
            every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        picked = every[:: max(1, len(every) // count)][:count]
    else:
        rng = np.random.default_rng(0)
        picked = [cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 2) for _ in range(count)]
    return [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in picked]


def frames(width: int, height: int, count: int = 10) -> np.ndarray:
    """N×3×H×W float32 in [0, 1]: frames spread over bikes.mp4, or smooth noise without it."""
    picked = sample_frames(CLIP, width, height, count)
    return np.stack([f.transpose(2, 0, 1) for f in picked]).astype(np.float32) / 255


def timed(run, x: np.ndarray, repeats: int) -> float:
    for _ in range(3):
        run(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def side_by_side(make_run, x: np.ndarray, repeats: int, cores: int) -> float:
    """Median ms a frame per run when `cores` single-threaded runs go at once."""
    results: list[float] = []
    runs = [make_run() for _ in range(cores)]
    threads = [threading.Thread(target=lambda r=r: results.append(timed(r, x, repeats))) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statistics.median(results)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default="starry")
    p.add_argument("--arch", default="compact", choices=["compact", "johnson"])
    p.add_argument("--size", default="640x272", help="W×H, multiples of 4")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    path = resolve_style(args.style, args.arch)
    clip = frames(width, height)
    x = clip[:1]
    cores = os.cpu_count() or 1

    session, _ = onnx_session(path, threads=1)
    name = session.get_inputs()[0].name
    reference = np.concatenate([session.run(None, {name: f[None]})[0] for f in clip])

    def ort_run():
        s, _ = onnx_session(path, threads=1)
        return lambda b: s.run(None, {name: b})[0]

    rows = [("onnxruntime fp32", timed(ort_run(), x, args.repeats), side_by_side(ort_run, x, args.repeats, cores),
             float("inf"))]
    try:
        import openvino as ov
    except ImportError:
        print("openvino is not installed: pip install openvino for its rows", file=sys.stderr)
        ov = None
    if ov is not None:
        core = ov.Core()
        model = core.read_model(str(path))
        model.reshape([1, 3, height, width])
        capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        for precision in ["f32"] + (["bf16"] if "BF16" in capabilities else []):
            def ov_run(precision=precision):
                compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": "1", "NUM_STREAMS": "1",
                                                            "INFERENCE_PRECISION_HINT": precision})
                request = compiled.create_infer_request()
                return lambda b: request.infer({0: b})[0]
            # Side by side: one compiled model with a stream per core, a request per thread.
            compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": str(cores), "NUM_STREAMS": str(cores),
                                                        "INFERENCE_PRECISION_HINT": precision})

            def ov_stream_run(compiled=compiled):
                request = compiled.create_infer_request()
                return lambda b: request.infer({0: b})[0]
            single = ov_run()
            out = np.concatenate([single(f[None]).copy() for f in clip])
            rows.append((f"openvino {precision}", timed(single, x, args.repeats),
                         side_by_side(ov_stream_run, x, args.repeats, cores),
                         min(psnr(o, r) for o, r in zip(out, reference))))
    print(f"# engine only, {path.name} at {width}x{height}, {machine_name()}, median of {args.repeats}")
    print(f"{'runtime':20s} {'1 core ms':>10s} {f'{cores} side by side ms':>22s} {'worst-frame PSNR dB':>20s}")
    for label, one, many, db in rows:
        print(f"{label:20s} {one:10.1f} {many:22.1f} {db:20.1f}")


if __name__ == "__main__":
    main()

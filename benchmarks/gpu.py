"""GPU figures for the PyTorch CUDA path: engine-only and end-to-end FPS, GPU memory, latency.

    python benchmarks/gpu.py [--frames 300] [--out DIR]

1. Engine only: each zoo size (johnson, compact) at 360p/720p/1080p, input already on the
   GPU, fp16 + channels_last + CUDA graphs (the runtime's setting), and at 1080p also without
   graphs and in fp32, to show what each costs. Timed with CUDA events over --iterations.
2. Stylizer per frame at 1080p: upload from pinned host memory, net, GPU temporal
   consistency, download: the GPU side of one video frame.
3. End to end: `stylestream video` on a 1080p H.264 clip made from bigbuckbunny.mp4 (temporal
   on, then off) and on the 720p original; FPS and per-stage FPS from its --json summary.
4. Latency: `stylestream webcam --camera CLIP --no-window` plays the 1080p clip in real time
   (30 FPS) as a camera would deliver it; capture-to-output latency in ms and frames.
Results print as JSON lines and as a Markdown table (OUT/gpu.md).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


def engine_fps(path: Path, size: tuple[int, int], iterations: int, half=True, graphs=True) -> dict:
    import torch

    from stylestream.backends.torch import TorchEngine

    engine = TorchEngine(path, half=half, graphs=graphs)
    w, h = size
    x = torch.rand(1, 3, h, w, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    for _ in range(10):
        engine.run(x)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iterations):
        engine.run(x)
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / iterations
    return {"ms": round(ms, 3), "fps": round(1000 / ms, 1),
            "gpu_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}


def stylizer_fps(path: Path, size: tuple[int, int], frames: int, temporal: bool) -> dict:
    import torch

    from stylestream.backends.torch import TorchEngine
    from stylestream.gpu import TorchStylizer

    stylizer = TorchStylizer(TorchEngine(path), max_size=None)
    w, h = size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    import cv2
    base = cv2.resize(base, (w + 64, h + 64), interpolation=cv2.INTER_CUBIC)
    clip = [np.ascontiguousarray(base[i % 32:i % 32 + h, i % 48:i % 48 + w]) for i in range(16)]
    blend = stylizer.temporal() if temporal else None

    def step(frame):            # the video job's stages for one frame, all on the device
        source = stylizer.prepare(frame)
        motion = blend.estimate(source) if blend else None
        styled = stylizer.infer(source)
        return stylizer.deliver(blend.blend(styled, motion) if blend else styled, frame)
    for f in clip[:5]:
        step(f)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(frames):
        step(clip[i % len(clip)])
    dt = time.perf_counter() - t0
    return {"ms": round(dt / frames * 1000, 3), "fps": round(frames / dt, 1)}


def make_clip(src: Path, dst: Path, size: tuple[int, int], frames: int) -> Path:
    import av
    import cv2

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        n = 0
        for frame in inp.decode(video=0):
            img = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_CUBIC)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
            n += 1
            if n >= frames:
                break
        for packet in stream.encode():
            out.mux(packet)
    return dst


def stylestream(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "stylestream", *args, "--json"], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-500:]}
    return json.loads(proc.stdout)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300, help="frames of the end-to-end clip")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny.mp4")
    p.add_argument("--out", type=Path, default=Path("."))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from stylestream.zoo import zoo_models
    zoo = zoo_models()["starry"]
    import av
    info = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "av": av.__version__,
            "nvenc": "h264_nvenc" in av.codecs_available}
    results: dict = {"info": info, "engine": {}, "stylizer": {}, "e2e": {}, "temporal_quality": {}, "latency": {}}

    def record(section: str, key: str, fn, *a, **kw):
        try:
            results[section][key] = fn(*a, **kw)
        except Exception as exc:  # one failed measurement must not cost the others
            results[section][key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(json.dumps({section: {key: results[section][key]}}), flush=True)
        (args.out / "gpu.json").write_text(json.dumps(results, indent=1))   # partial results survive a timeout

    print(json.dumps(info), flush=True)
    for arch in ("johnson", "compact"):
        for name, size in SIZES.items():
            record("engine", f"{arch} {name} fp16+graphs", engine_fps, zoo[arch], size, args.iterations)
    record("engine", "johnson 1080p fp16 no graphs", engine_fps, zoo["johnson"], SIZES["1080p"], args.iterations, graphs=False)
    record("engine", "johnson 1080p fp32 no graphs", engine_fps, zoo["johnson"], SIZES["1080p"], args.iterations // 4,
           half=False, graphs=False)
    for arch in ("johnson", "compact"):
        record("stylizer", f"{arch} 1080p temporal", stylizer_fps, zoo[arch], SIZES["1080p"], 200, True)
    record("stylizer", "johnson 1080p no temporal", stylizer_fps, zoo["johnson"], SIZES["1080p"], 200, False)

    import tempfile
    scratch = Path(tempfile.mkdtemp())          # big clips stay out of OUT
    clip = make_clip(args.video, scratch / "clip1080.mp4", SIZES["1080p"], args.frames)
    out = scratch / "styled.mp4"
    for key, extra in {"johnson 1080p temporal": ["--arch", "johnson"],
                       "johnson 1080p no temporal": ["--arch", "johnson", "--no-temporal"],
                       "compact 1080p temporal": ["--arch", "compact"]}.items():
        record("e2e", key, stylestream, "video", str(clip), str(out), "--no-progress", *extra)
    record("e2e", "johnson 720p bigbuckbunny temporal", stylestream, "video", str(args.video), str(out),
           "--no-progress", "--arch", "johnson")
    bikes = args.video.parent / "bikes.mp4"
    for key, extra in {"per-frame": ["--no-temporal"], "temporal": []}.items():
        styled = args.out / f"bikes_{key}.mp4"
        record("e2e", f"johnson bikes {key}", stylestream, "video", str(bikes), str(styled), "--no-progress",
               "--arch", "johnson", *extra)
        record("temporal_quality", f"johnson bikes {key}", stylestream, "eval", "temporal", str(bikes), str(styled))
    record("latency", "webcam johnson 1080p@30 temporal", stylestream, "webcam", "--camera", str(clip),
           "--no-window", "--arch", "johnson", "--seconds", "8")

    (args.out / "gpu.json").write_text(json.dumps(results, indent=1))
    lines = [f"GPU: {info['gpu']}; torch {info['torch']}; PyAV {info['av']} (NVENC: {info['nvenc']})", "",
             "| what | ms / frame | FPS | GPU memory |", "|---|---:|---:|---:|"]
    for section in ("engine", "stylizer"):
        for k, r in results[section].items():
            lines.append(f"| {section}: {k} | {r.get('ms', '')} | {r.get('fps', r.get('error', ''))} | "
                         f"{r.get('gpu_mem_mb', '')} |")
    lines += ["", "| end to end | FPS | stage FPS | encoder |", "|---|---:|---|---|"]
    for k, r in results["e2e"].items():
        lines.append(f"| {k} | {r.get('fps', r.get('error', ''))} | {r.get('stage_fps', '')} | {r.get('encoder', '')} |")
    for k, r in results["temporal_quality"].items():
        lines.append(f"\nWarping error / sharpness, {k}: {r.get('warping_error', r.get('error'))} / {r.get('sharpness')}")
    for k, r in results["latency"].items():
        lines += ["", f"Latency, {k}: {r.get('latency_ms', r.get('error', ''))} ms "
                      f"= {r.get('latency_frames_p95', '')} frames (p95) at {r.get('fps', '')} FPS processed"]
    (args.out / "gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

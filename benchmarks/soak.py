"""Memory over a long run: does the resident set stay flat?

    python benchmarks/soak.py --minutes 30 [--video-minutes 10] [--style starry] [--interval 60]

Two runs, one after the other, each a real `stylestream` process:
  webcam  `stylestream webcam --no-window --record`, its camera a clip looped for the whole
          run (an ffconcat playlist of it, played in real time like a camera);
  video   `stylestream video` on the same playlist, as fast as it goes, stopped with SIGINT
          at the time limit (so the interrupt path is soaked too).
Their RSS is read from /proc every --interval seconds; each run prints its curve and the
ratio of its largest to its smallest sample after the first (the first includes start-up).
The goal is a ratio within 1.05.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from fuzz_corpus import write_clip  # noqa: E402

CLIP_SECONDS = 10
CLIP_FPS = 25


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def playlist(folder: Path, clip: Path, seconds: float) -> Path:
    """An ffconcat file that plays `clip` back to back for at least `seconds`."""
    repeats = math.ceil(seconds / CLIP_SECONDS) + 1
    path = folder / "loop.ffconcat"
    path.write_text("ffconcat version 1.0\n" + f"file {clip.name}\n" * repeats)
    return path


def soak(name: str, argv: list[str], minutes: float, interval: float) -> dict:
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "stylestream", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    next_sample = start + interval
    while proc.poll() is None and time.monotonic() - start < minutes * 60:
        time.sleep(max(0.0, min(next_sample, start + minutes * 60) - time.monotonic()))
        if time.monotonic() >= next_sample:
            mb = rss_mb(proc.pid)
            if mb is not None:
                samples.append((round(time.monotonic() - start, 1), round(mb, 1)))
                print(f"  {name}: {samples[-1][0]:7.1f} s  {mb:8.1f} MB", flush=True)
            next_sample += interval
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)     # a clean finish, as a user's Ctrl-C
    stdout, stderr = proc.communicate(timeout=600)
    steady = [mb for _, mb in samples[1:]] or [mb for _, mb in samples]
    result = {"run": name, "exit": proc.returncode, "samples": samples,
              "max_over_min": round(max(steady) / min(steady), 4) if steady else None,
              "stderr": stderr.strip().splitlines()[-3:]}
    try:
        summary = json.loads(stdout)
        result["frames"], result["fps"] = summary.get("frames"), summary.get("fps")
    except json.JSONDecodeError:
        pass
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30, help="length of the webcam run (default 30)")
    ap.add_argument("--video-minutes", type=float, default=None, help="length of the video run (default: --minutes / 3)")
    ap.add_argument("--interval", type=float, default=60, help="seconds between RSS samples (default 60)")
    ap.add_argument("--style", default="starry", help="zoo name or model path (default: starry)")
    ap.add_argument("--size", type=int, default=320, help="clip width; height is 3/4 of it (default 320)")
    args = ap.parse_args()
    video_minutes = args.minutes / 3 if args.video_minutes is None else args.video_minutes
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = write_clip(folder / "clip.mp4", width=args.size, height=args.size * 3 // 4,
                          frames=CLIP_SECONDS * CLIP_FPS, fps=CLIP_FPS, audio=True, gop=CLIP_FPS)
        loop = playlist(folder, clip, max(args.minutes, video_minutes) * 60 * 20)   # ample for `video`
        runs = [
            soak("webcam", ["webcam", "--camera", str(loop), "--no-window", "--record", str(folder / "rec.mp4"),
                            "--seconds", str(args.minutes * 60), "--style", args.style, "--json"],
                 args.minutes + 1, args.interval),
            soak("video", ["video", str(loop), str(folder / "out.mp4"), "--style", args.style, "--json"],
                 video_minutes, args.interval),
        ]
    for r in runs:
        curve = "  ".join(f"{t / 60:.1f}m:{mb:.0f}" for t, mb in r["samples"])
        print(f"{r['run']}: exit {r['exit']}, {r.get('frames')} frames at {r.get('fps')} FPS; "
              f"RSS MB {curve}; max/min after the first sample {r['max_over_min']}")
        if r["exit"] not in (0, 130):
            print(f"  stderr: {r['stderr']}")


if __name__ == "__main__":
    main()

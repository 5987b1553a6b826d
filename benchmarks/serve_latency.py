"""The studio page's cost: capture-to-viewer latency and the server's CPU time per extra viewer.

Runs `stylestream webcam --serve` on a 640×360 clip played as a looping camera, then
  1. latency: a viewer reads the stream as fast as it can; each part carries its camera
     frame's capture time (X-Captured-Ms, the server's clock, the same machine's clock as
     the viewer's), so capture → arrival is exact. With Debian's chromium installed, the page
     itself is opened headless too and its own figures (capture → painted on the canvas, over
     its synchronised clock) are read back.
  2. CPU: the server process's CPU time (user + system, from /proc) over a fixed stretch with
     0, 1, 2, 4 and 8 viewers; the cost of a viewer is the slope, in % of one core.

    python benchmarks/serve_latency.py [--seconds 8] [--repeats 3] [--style candy] [--max-size N] [--json]

Latency is given in ms and in frames of the camera's rate (the goal: at most 3), and the
server's own capture → stylized time is given beside it, so that what serving adds is plain.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "sample.mp4"          # 640×360 at 25 fps
VIEWER_COUNTS = (0, 1, 2, 4, 8)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_server(style: str, max_size: int | None) -> tuple[subprocess.Popen, str]:
    size = ["--max-size", str(max_size)] if max_size else []
    proc = subprocess.Popen([sys.executable, "-m", "stylestream", "webcam", "--camera", str(CLIP), "--loop",
                             "--no-window", "--serve", "127.0.0.1:0", "--style", style, "--json", *size],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if m := re.search(r"studio page at (http://\S+)", line):
            threading.Thread(target=proc.stderr.read, daemon=True).start()   # keep its pipe drained
            return proc, m.group(1)
    raise SystemExit(f"the server did not start: {proc.communicate()[1][-2000:]}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS      # utime, stime


class Viewer(threading.Thread):
    """Reads the stream as fast as it can, noting each part's capture → arrival time."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.latencies, self.stop = url, [], threading.Event()

    def run(self):
        from stylestream.jobs.serve import read_parts

        with urllib.request.urlopen(self.url + "stream.mjpg", timeout=30) as r:
            for headers, _ in read_parts(r):
                self.latencies.append(time.time() * 1000 - float(headers["x-captured-ms"]))
                if self.stop.is_set():
                    break


def status(url: str) -> dict:
    with urllib.request.urlopen(url + "status", timeout=30) as r:
        return json.loads(r.read())


def viewer_latency(url: str, seconds: float) -> dict:
    viewer = Viewer(url)
    viewer.start()
    time.sleep(seconds)
    viewer.stop.set()
    viewer.join(30)
    ms = sorted(viewer.latencies[5:])       # the first parts wait for the connection itself
    return {"median": statistics.median(ms), "p95": ms[int(0.95 * (len(ms) - 1))], "frames": len(ms)}


def browser_latency(url: str, seconds: float) -> dict | None:
    sys.path.insert(0, str(ROOT / "tests"))
    import webdriver

    if webdriver.missing():
        return None
    with webdriver.Browser() as browser:
        browser.open(url)
        browser.wait_for("return window.studio.frames >= 10", 60)
        time.sleep(seconds)
        ms = sorted(browser.run("return window.studio.latencies.slice(10)"))
    return {"median": statistics.median(ms), "p95": ms[int(0.95 * (len(ms) - 1))], "frames": len(ms)}


def server_cpu(proc: subprocess.Popen, url: str, viewers: int, seconds: float) -> dict:
    threads = [Viewer(url) for _ in range(viewers)]
    for t in threads:
        t.start()
    time.sleep(1.0)                          # connected and streaming before the stretch is timed
    before, frames_before, start = cpu_seconds(proc.pid), status(url)["frames"], time.perf_counter()
    time.sleep(seconds)
    cpu, frames, wall = cpu_seconds(proc.pid) - before, status(url)["frames"] - frames_before, \
        time.perf_counter() - start
    for t in threads:
        t.stop.set()
    for t in threads:
        t.join(30)
    return {"viewers": viewers, "cpu_percent": 100 * cpu / wall, "fps": frames / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0, help="length of each measured stretch (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="measurements of each figure; the median is kept (default 3)")
    p.add_argument("--style", default="candy", help="zoo style the server paints with (default candy)")
    p.add_argument("--max-size", type=int, default=None,
                   help="stylize at this size (the stream stays 640×360): a small one keeps inference from "
                        "hiding what serving costs on a slow CPU (default: the webcam's own)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    proc, url = start_server(args.style, args.max_size)
    try:
        time.sleep(3.0)                      # engines warm, the camera running
        camera_fps = status(url)["camera_fps"]
        viewer = [viewer_latency(url, args.seconds) for _ in range(args.repeats)]
        browser = [b for b in (browser_latency(url, args.seconds) for _ in range(args.repeats)) if b]
        stylized = status(url)["latency_ms"]
        cpu = {n: [server_cpu(proc, url, n, args.seconds) for _ in range(args.repeats)] for n in VIEWER_COUNTS}
    finally:
        proc.terminate()
        proc.communicate(timeout=60)

    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    to_frames = camera_fps / 1000
    cpu_by_viewers = {n: median(runs, "cpu_percent") for n, runs in cpu.items()}
    fps_by_viewers = {n: median(runs, "fps") for n, runs in cpu.items()}
    # The cost of a viewer beyond the first: least-squares slope over 1..8 viewers.
    xs = [n for n in VIEWER_COUNTS if n >= 1]
    mx, my = statistics.mean(xs), statistics.mean(cpu_by_viewers[n] for n in xs)
    slope = sum((x - mx) * (cpu_by_viewers[x] - my) for x in xs) / sum((x - mx) ** 2 for x in xs)
    result = {
        "clip": f"{CLIP.name} 640x360 at {camera_fps:g} fps, looped", "style": args.style, "max_size": args.max_size,
        "seconds": args.seconds, "repeats": args.repeats,
        "capture_to_stylized_ms": stylized,
        "capture_to_viewer_ms": {"median": median(viewer, "median"), "p95": median(viewer, "p95")},
        "capture_to_viewer_frames": {"median": median(viewer, "median") * to_frames,
                                     "p95": median(viewer, "p95") * to_frames},
        "capture_to_browser_ms": ({"median": median(browser, "median"), "p95": median(browser, "p95")}
                                  if browser else None),
        "capture_to_browser_frames": ({"median": median(browser, "median") * to_frames,
                                       "p95": median(browser, "p95") * to_frames} if browser else None),
        "server_cpu_percent_by_viewers": cpu_by_viewers, "fps_by_viewers": fps_by_viewers,
        "cpu_percent_per_extra_viewer": slope,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    v, f = result["capture_to_viewer_ms"], result["capture_to_viewer_frames"]
    print(f"{result['clip']}, style {args.style} at max size {args.max_size or 'default'}, "
          f"{args.repeats} × {args.seconds:g} s")
    print(f"capture → stylized (server):  median {stylized['median']:.0f} ms, p95 {stylized['p95']:.0f} ms")
    print(f"capture → viewer (stream):    median {v['median']:.0f} ms ({f['median']:.2f} frames), "
          f"p95 {v['p95']:.0f} ms ({f['p95']:.2f} frames)")
    if browser:
        b, bf = result["capture_to_browser_ms"], result["capture_to_browser_frames"]
        print(f"capture → browser (painted):  median {b['median']:.0f} ms ({bf['median']:.2f} frames), "
              f"p95 {b['p95']:.0f} ms ({bf['p95']:.2f} frames)")
    for n in VIEWER_COUNTS:
        print(f"{n} viewers: server CPU {cpu_by_viewers[n]:5.1f} % of a core, {fps_by_viewers[n]:.1f} FPS, "
              f"{10 * cpu_by_viewers[n] / max(fps_by_viewers[n], 1e-9):.1f} ms of CPU a frame")
    print(f"each extra viewer: {slope:+.2f} % of a core")


if __name__ == "__main__":
    main()

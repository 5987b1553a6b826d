"""Bad and damaged inputs for `stylestream video`, generated on the spot, and what each does.

    python benchmarks/fuzz_corpus.py [--style starry] [--only CASE ...]

Each case is written to a scratch folder, run as `stylestream video CASE OUT --json` with an
OUT that already exists, and reported as one table row: exit status, lines on stderr, and
what became of OUT (untouched, or replaced by a playable file of N frames). The contract:
exit 0 (damage skipped, at most one warning line) or 2 (one error line, OUT untouched),
nothing else, and no temporary file left. tests/test_hardening.py runs the same corpus.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS_OUTPUT = b"an earlier output, to be kept unless the run succeeds"


def write_clip(path: Path, width: int = 64, height: int = 48, frames: int = 30, fps: int = 10,
               audio: bool = False, faststart: bool = False, gop: int = 5) -> Path:
    """A moving gradient in H.264 (4:4:4 for odd sizes); `faststart` puts the MP4 index first,
    so damage behind it hits frame data, not the index. A keyframe every `gop` frames."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height = width, height
        v.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        v.options = {"preset": "ultrafast", "crf": "23", "g": str(gop)}
        a = None
        if audio:
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(frames):
            img = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, (i * 20) % 256)], -1)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(v.encode(frame))
            if a is not None:       # interleaved: 1/fps seconds of a tone after each frame
                n = 16000 // fps
                t = (np.arange(n) + i * n) / 16000
                af = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                                format="flt", layout="mono")
                af.sample_rate, af.pts, af.time_base = 16000, i * n, Fraction(1, 16000)
                out.mux(a.encode(af))
        out.mux(v.encode(None))
        if a is not None:
            out.mux(a.encode(None))
    return path


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="flt", layout="mono")
        frame.sample_rate = 16000
        out.mux(a.encode(frame))
        out.mux(a.encode(None))
    return path


def _png(path: Path) -> Path:
    import cv2

    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return path


def _truncated(faststart: bool, fraction: float):
    def build(path: Path) -> Path:
        data = write_clip(path.with_name("whole_" + path.name), faststart=faststart).read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        return path
    return build


def _damaged(kind: str, seed: int = 0):
    """Faststart clip with its frame data hurt: `zeroed` blanks the middle fifth of it,
    `overwritten` sets 20 random bytes to random values."""
    def build(path: Path) -> Path:
        data = bytearray(write_clip(path.with_name("whole_" + path.name), faststart=True, audio=True).read_bytes())
        start = data.find(b"mdat") + 4
        if kind == "zeroed":
            a, b = start + (len(data) - start) * 2 // 5, start + (len(data) - start) * 3 // 5
            data[a:b] = bytes(b - a)
        else:
            rng = np.random.default_rng(seed)
            for at in rng.integers(start, len(data), 20):
                data[int(at)] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        return path
    return build


def _noise(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    return path


# name → (builder, file name). Sizes: 2×2 and 1×1 pictures, and 12×48, a size at which
# OpenCV's DIS optical flow crashes (temporal consistency skips flow for it).
CASES = {
    "zero_byte": (lambda p: (p.write_bytes(b""), p)[1], "zero.mp4"),
    "text": (lambda p: (p.write_text("not a video\n" * 200), p)[1], "notes.txt"),
    "random_bytes": (_noise, "noise.mp4"),
    "image_as_video": (_png, "picture.png"),
    "audio_only": (_audio_only, "tone.m4a"),
    "truncated_index_at_end_50": (_truncated(False, 0.5), "cut50.mp4"),
    "truncated_faststart_30": (_truncated(True, 0.3), "fcut30.mp4"),
    "truncated_faststart_60": (_truncated(True, 0.6), "fcut60.mp4"),
    "truncated_faststart_90": (_truncated(True, 0.9), "fcut90.mp4"),
    "truncated_header_only": (_truncated(True, 0.02), "fcut2.mp4"),
    "zeroed_middle": (_damaged("zeroed"), "zeroed.mp4"),
    **{f"overwritten_{seed}": (_damaged("overwritten", seed), f"overwritten{seed}.mp4") for seed in range(4)},
    "frames_1x1": (lambda p: write_clip(p, 1, 1, frames=6), "one.mp4"),
    "frames_2x2": (lambda p: write_clip(p, 2, 2, frames=6), "two.mp4"),
    "frames_12x48": (lambda p: write_clip(p, 48, 12, frames=6), "thin.mp4"),
}


def run_case(name: str, folder: Path, style: str, python: str = sys.executable, timeout: float = 300) -> dict:
    """Builds case `name` in `folder`, runs it, and describes the outcome."""
    import av

    builder, file_name = CASES[name]
    src = builder(folder / file_name)
    out = folder / f"{name}.out.mp4"
    out.write_bytes(PREVIOUS_OUTPUT)
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([python, "-m", "stylestream", "video", str(src), str(out), "--style", style, "--json"],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    summary = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
    if not out.exists():
        state, frames = "missing", None
    elif out.read_bytes() == PREVIOUS_OUTPUT:
        state, frames = "untouched", None
    else:
        try:
            with av.open(str(out)) as c:
                frames = sum(1 for _ in c.decode(video=0))
            state = f"replaced, {frames} frames playable"
        except (av.error.FFmpegError, IndexError):
            state, frames = "replaced, unplayable", None
    leftovers = [p.name for p in folder.glob(f".{out.stem}.partial-*")]
    stderr = proc.stderr.strip().splitlines()
    return {"case": name, "exit": proc.returncode, "stderr_lines": len(stderr), "stderr": stderr,
            "output": state, "output_frames": frames, "summary": summary, "leftovers": leftovers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--style", default="starry", help="zoo name or model path (default: starry)")
    ap.add_argument("--only", nargs="+", choices=sorted(CASES), help="run only these cases")
    args = ap.parse_args()
    print("| case | exit | stderr lines | output | first stderr line |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or CASES:
            folder = Path(tmp) / name
            folder.mkdir()
            r = run_case(name, folder, args.style)
            first = r["stderr"][0][:110] if r["stderr"] else ""
            extra = f" (left: {', '.join(r['leftovers'])})" if r["leftovers"] else ""
            print(f"| {name} | {r['exit']} | {r['stderr_lines']} | {r['output']}{extra} | {first} |", flush=True)


if __name__ == "__main__":
    main()

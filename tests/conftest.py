"""Shared fixtures: a tiny exported style net and small generated video clips."""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
# The VGG16 weights the trainer tests use: $STYLESTREAM_VGG_WEIGHTS where set (as the product
# reads it), else the shared copy; tests that need them skip when neither exists.
VGG_WEIGHTS = Path(os.environ.get("STYLESTREAM_VGG_WEIGHTS") or SHARED / "vgg16-imagenet-features.pth")
needs_vgg = pytest.mark.skipif(not VGG_WEIGHTS.is_file(), reason="no VGG16 weights: set STYLESTREAM_VGG_WEIGHTS "
                               "or provide ../shared/data/vgg16-imagenet-features.pth")


def run_cli(*args, timeout=300, env=None, **kwargs) -> subprocess.CompletedProcess:
    """`stylestream ARGS` in a subprocess, as a user would run it."""
    full_env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "stylestream", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, **kwargs)


def assert_clean_error(proc: subprocess.CompletedProcess, needle: str | None = None) -> None:
    """Exit status 2, exactly one line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("stylestream: error:"), lines[0]
    if needle:
        assert needle.lower() in lines[0].lower(), lines[0]


def make_clip(path: Path, width: int = 64, height: int = 48, frames: int = 12, fps: int = 10,
              audio: bool = False, vfr: bool = False, rotation: int = 0, audio_codec: str = "aac") -> Path:
    """A moving gradient (and, optionally, a 440 Hz tone). With `vfr`, frame intervals
    alternate between 1 and 3 ticks of 1/(2·fps)."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        # 4:2:0 cannot hold odd sizes; phones and editors write 4:4:4 (or crop) for those.
        v.width, v.height = width, height
        v.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        tb = Fraction(1, 2 * fps) if vfr else Fraction(1, fps)
        v.codec_context.time_base = tb
        v.time_base = tb
        v.options = {"preset": "ultrafast", "crf": "23"}
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream(audio_codec, rate=16000)
            a.layout = "mono"
        yy, xx = np.mgrid[0:height, 0:width]
        pts = 0
        for i in range(frames):
            img = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, (i * 20) % 256)], -1)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, tb
            pts += (1 if i % 2 == 0 else 3) if vfr else 1
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            duration = float(pts * tb)
            n = int(16000 * duration)
            t = np.arange(n) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            fmt = a.codec_context.format.name if a.codec_context.format else "fltp"
            for start in range(0, n, 1024):
                chunk = samples[start:start + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
                af.sample_rate, af.pts, af.time_base = 16000, start, Fraction(1, 16000)
                out.mux(a.encode(af))
            out.mux(a.encode(None))
            del fmt
    return path


def write_photos(folder: Path, count: int = 6, height: int = 48, width: int = 64) -> Path:
    """A folder of small blurred-noise "photos": training data for tiny trainer runs."""
    import cv2

    rng = np.random.default_rng(0)
    for i in range(count):
        img = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


def probe(path: Path) -> dict:
    """Frames, size, duration and audio packets of a file, decoded for real."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        video_pts, sizes = [], set()
        for f in c.decode(v):
            video_pts.append(float(f.pts * f.time_base))
            sizes.add((f.width, f.height))
        info = {"frames": len(video_pts), "sizes": sizes, "video_times": video_pts,
                "rotation": None, "audio_packets": []}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio_codec"] = a.codec_context.name
            info["audio_packets"] = [(bytes(p), float(p.pts * p.time_base)) for p in c.demux(a) if p.size]
    return info


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny randomly initialised transform net exported to ONNX and TorchScript.
    Runtime tests need a real model of the real format, not a good-looking one."""
    import torch

    from exports.formats import export_onnx, export_torchscript
    from stylenets.transformer_net import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(width=4, res_blocks=1).eval()
    folder = tmp_path_factory.mktemp("models")
    meta = {"kind": "stylestream.style", "name": "tiny", "train_size": 32, "steps": 0, **net.config()}
    onnx_path, pt_path = folder / "tiny.onnx", folder / "tiny.pt"
    export_onnx(net, onnx_path, meta)
    export_torchscript(net, pt_path, meta)
    return {"onnx": onnx_path, "pt": pt_path, "net": net}


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "plain": make_clip(d / "plain.mp4"),
        "audio": make_clip(d / "audio.mp4", audio=True),
        "odd": make_clip(d / "odd.mp4", width=65, height=47),
        "vfr": make_clip(d / "vfr.mp4", audio=True, vfr=True, frames=10),
        "rotated": make_clip(d / "rotated.mp4", width=64, height=32, rotation=90, frames=6),
    }


def write_frames(path: Path, frames, fps: int = 10) -> Path:
    """Encodes a list of RGB uint8 frames losslessly enough for metric tests (crf 0)."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv444p"
        v.options = {"crf": "0", "preset": "ultrafast"}
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(v.encode(f))
        out.mux(v.encode(None))
    return path

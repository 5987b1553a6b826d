"""`webcam --virtual-camera`: the missing module and the missing backend each end in one line
that names what to install; frames reach a v4l2loopback device where one exists."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import assert_clean_error, make_clip

_NO_PYVIRTUALCAM = ("import sys; sys.modules['pyvirtualcam'] = None; "
                    "from stylestream.cli import main; main(sys.argv[1:])")


def run(*args, block_pyvirtualcam=False):
    code = _NO_PYVIRTUALCAM if block_pyvirtualcam else "from stylestream.cli import main; import sys; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "STYLESTREAM_NO_PROGRESS": "1"})


def loopback_device() -> str | None:
    """The first v4l2loopback device pyvirtualcam can open, or None."""
    try:
        import pyvirtualcam
        with pyvirtualcam.Camera(64, 48, 20, fmt=pyvirtualcam.PixelFormat.RGB) as cam:
            return cam.device
    except (ImportError, RuntimeError):
        return None


def test_without_pyvirtualcam_the_error_names_the_extra(tmp_path, tiny_models):
    cam = make_clip(tmp_path / "cam.mp4", frames=5)
    proc = run("webcam", "--camera", cam, "--style", tiny_models["onnx"], "--no-window", "--virtual-camera",
               block_pyvirtualcam=True)
    assert_clean_error(proc, "stylestream[vcam]")


def test_without_a_backend_the_error_names_it(tmp_path, tiny_models):
    pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed (the vcam extra)")
    if loopback_device() is not None:
        pytest.skip("a virtual camera device exists: there is no missing backend to report")
    cam = make_clip(tmp_path / "cam.mp4", frames=5)
    proc = run("webcam", "--camera", cam, "--style", tiny_models["onnx"], "--no-window", "--virtual-camera")
    assert_clean_error(proc, "v4l2loopback" if sys.platform.startswith("linux") else "OBS")


def test_frames_reach_the_virtual_camera(tmp_path, tiny_models):
    device = loopback_device()
    if device is None:
        pytest.skip("no virtual camera device: needs pyvirtualcam and the v4l2loopback module loaded "
                    "(modprobe v4l2loopback exclusive_caps=1)")
    import threading

    import cv2
    cam = make_clip(tmp_path / "cam.mp4", width=64, height=48, frames=60, fps=20)
    job = subprocess.Popen([sys.executable, "-m", "stylestream", "webcam", "--camera", str(cam), "--style",
                            str(tiny_models["onnx"]), "--no-window", "--virtual-camera", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []

    def watch():
        reader = cv2.VideoCapture(device)
        for _ in range(200):
            ok, frame = reader.read()
            if ok:
                seen.append(frame.shape)
            if len(seen) >= 10:
                break
        reader.release()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = job.communicate(timeout=120)
    watcher.join(30)
    assert job.returncode == 0, err
    s = json.loads(out)
    assert s["virtual_camera"]["frames"] == s["frames"] > 0
    assert seen and seen[0][:2] == (48, 64)

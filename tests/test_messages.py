"""What the user sees besides the output: a warning for a slow backend, the progress of
`image --optimize`, and a window that opens without Qt's font warnings."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from conftest import VGG_WEIGHTS, needs_vgg, run_cli


def _photo(path, h=24, w=32):
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


def test_backend_torch_on_the_cpu_warns_in_one_line(tmp_path, tiny_models):
    src = _photo(tmp_path / "a.png")
    proc = run_cli("image", src, "-o", tmp_path / "b.png", "--style", tiny_models["onnx"], "--backend", "torch",
                   "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylestream: warning: --backend torch"), proc.stderr
    assert "slower" in lines[0] and "auto" in lines[0]
    quiet = run_cli("image", src, "-o", tmp_path / "c.png", "--style", tiny_models["onnx"])
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_the_api_warns_as_python_does(tiny_models):
    import stylestream
    from stylestream.errors import SlowWarning

    with pytest.warns(SlowWarning, match="--backend torch"):
        stylestream.open(tiny_models["onnx"], backend="torch", device="cpu", temporal=None).close()


@needs_vgg
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimize_shows_a_bar_over_its_steps(tmp_path, optimizer):
    src = _photo(tmp_path / "a.png")
    style = _photo(tmp_path / "style.png")
    env = {"STYLESTREAM_VGG_WEIGHTS": str(VGG_WEIGHTS), "STYLESTREAM_NO_PROGRESS": "0"}
    args = ("image", src, "--optimize", "--style-image", style, "--steps", "4", "--scales", "0.5", "1",
            "--optimizer", optimizer)
    shown = run_cli(*args, "-o", tmp_path / "o.png", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "/8 [" in shown.stderr and "step" in shown.stderr     # one bar: 4 steps at each of 2 scales
    quiet = run_cli(*args, "-o", tmp_path / "q.png", "--no-progress", env=env)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    off = run_cli(*args, "-o", tmp_path / "r.png", env={**env, "STYLESTREAM_NO_PROGRESS": "1"})
    assert off.returncode == 0 and off.stderr == "", off.stderr


def test_qt_is_pointed_at_fonts_that_exist(tmp_path, monkeypatch):
    from stylestream import sinks

    missing = str(tmp_path / "cv2" / "qt" / "fonts")        # what opencv-python's loader sets
    monkeypatch.setenv("QT_QPA_FONTDIR", missing)
    monkeypatch.delenv("QT_LOGGING_RULES", raising=False)
    fonts = tmp_path / "fonts" / "truetype" / "dejavu"
    fonts.mkdir(parents=True)
    (fonts / "DejaVuSans.ttf").write_bytes(b"\0")
    monkeypatch.setattr(sinks, "SYSTEM_FONT_DIRS", (str(tmp_path / "nothing"), str(tmp_path / "fonts")))
    sinks.quiet_qt_fonts()
    assert os.environ["QT_QPA_FONTDIR"] == str(fonts)
    assert "QT_LOGGING_RULES" not in os.environ

    monkeypatch.setenv("QT_QPA_FONTDIR", missing)
    monkeypatch.setattr(sinks, "SYSTEM_FONT_DIRS", (str(tmp_path / "nothing"),))
    sinks.quiet_qt_fonts()                       # no fonts anywhere: the warnings are turned off instead
    assert "default.warning=false" in os.environ["QT_LOGGING_RULES"]

    monkeypatch.setenv("QT_QPA_FONTDIR", str(fonts))
    monkeypatch.setenv("QT_LOGGING_RULES", "x=true")
    sinks.quiet_qt_fonts()                       # a font folder that exists is the user's choice
    assert os.environ["QT_QPA_FONTDIR"] == str(fonts) and os.environ["QT_LOGGING_RULES"] == "x=true"


@pytest.fixture
def x_display():
    """A virtual X display (Xvfb), as OpenCV's Qt windows need one; skips where Xvfb is absent."""
    if not shutil.which("Xvfb") or not sys.platform.startswith("linux"):
        pytest.skip("no Xvfb to open a window on")
    number = 90 + os.getpid() % 500
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{number}") and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.parametrize("system_fonts", [True, False])
def test_opening_a_window_prints_nothing(x_display, system_fonts):
    code = ("import numpy as np\n"
            "from stylestream import sinks\n"
            + ("" if system_fonts else "sinks.SYSTEM_FONT_DIRS = ()\n") +
            "w = sinks.WindowSink('test')\n"
            "w.show(np.zeros((48, 64, 3), np.uint8), ['12.0 FPS'])\n"
            "w.key(50)\n"
            "w.close()\n")
    env = {**os.environ, "DISPLAY": x_display}
    env.pop("QT_QPA_FONTDIR", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr

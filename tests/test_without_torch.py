"""The plain install has no PyTorch: video, image and info must run without it, and the
commands that need it say which extra to install, in one line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, assert_clean_error, probe

# Runs the CLI with torch and torchvision made unimportable, as in a plain install.
_NO_TORCH = ("import sys; sys.modules['torch'] = sys.modules['torchvision'] = None; "
             "from stylestream.cli import main; main(sys.argv[1:])")


def run_without_torch(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-c", _NO_TORCH, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600, cwd=cwd)


def test_video_image_and_info_run_without_torch(tmp_path):
    sample = ROOT / "examples" / "sample.mp4"
    proc = run_without_torch("video", sample, tmp_path / "out.mp4", "--max-size", "128")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert probe(tmp_path / "out.mp4")["frames"] == probe(sample)["frames"]

    import cv2
    import numpy as np
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8))
    proc = run_without_torch("image", photo, "-o", tmp_path / "styled.png")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert cv2.imread(str(tmp_path / "styled.png")).shape == (64, 96, 3)
    # any picture as the style: the installed arbitrary-style model, in ONNX Runtime alone
    proc = run_without_torch("image", photo, "-o", tmp_path / "any.png", "--style-image", photo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert cv2.imread(str(tmp_path / "any.png")).shape == (64, 96, 3)

    proc = run_without_torch("info")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "starry" in proc.stdout
    proc = run_without_torch("info", "starry")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "a style model" in proc.stdout


@pytest.mark.parametrize("args", [
    ("train", "--style-image", "s.jpg", "--data", ".", "--out", "o.onnx"),
    ("image", "photo.png", "--optimize", "--style-image", "photo.png"),
])
def test_commands_that_need_torch_name_the_extra(tmp_path, args):
    import cv2
    import numpy as np
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((32, 32, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "s.jpg"), np.zeros((32, 32, 3), np.uint8))
    assert_clean_error(run_without_torch(*args, cwd=tmp_path), "stylestream[train]")


def test_every_trainer_command_builds_its_parser_without_torch():
    """The CLI adds every installed trainer command's arguments to its parser, so their option
    modules must import without torch, whether or not the entry points are installed."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "import argparse\n"
            "from trainers.cli import TRAIN, TRAIN_ARBITRARY, TRAIN_GAN\n"
            "for command in (TRAIN, TRAIN_GAN, TRAIN_ARBITRARY):\n"
            "    command.add_arguments(argparse.ArgumentParser())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]

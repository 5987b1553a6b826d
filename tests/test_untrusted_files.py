"""A file a user hands us is read, never unpickled: a pickle that runs code when loaded is
refused, with one line on stderr and exit 2, by every option that takes a file."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli, write_photos


class _RunsCode:
    """Unpickling this calls os.system: it touches MARKER."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path):
    """(factory for malicious files, the marker path their code would create)."""
    import torch

    marker = tmp_path / "CODE_RAN"

    def make(name: str, fmt: str = "torch") -> str:
        path = tmp_path / name
        payload = {"step": 1, "extra": {"model_config": {}}, "payload": _RunsCode(marker)}
        if fmt == "torch":  # torch.save's zip archive: what a checkpoint looks like
            torch.save(payload, path)
        else:               # a bare pickle stream
            path.write_bytes(pickle.dumps(payload))
        return str(path)

    return make, marker


def _one_line_exit_2(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return lines[0]


def _module(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd or ROOT)


def _photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    return write_photos(folder)


def _train_args(tmp_path, tiny_models, *extra):
    """A fast-NST run that needs no VGG (pure distillation from the tiny net), so every
    file option is reached whatever weights this machine has."""
    style = next(_photos(tmp_path).iterdir())
    return ["train", "--style-image", style, "--data", tmp_path / "photos", "--out", tmp_path / "o.onnx",
            "--size", "32", "--steps", "1", "--content-weight", "0", "--style-weight", "0",
            "--device", "cpu", "--no-export", *extra]


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
@pytest.mark.parametrize("option", ["--init", "--teacher", "--resume", "--vgg-weights"])
def test_train_refuses_pickles(tmp_path, tiny_models, evil, option, fmt):
    make, marker = evil
    bad = make("bad.pt", fmt)
    teacher = ["--teacher", tiny_models["onnx"]]
    if option == "--init":
        extra = ["--init", bad, *teacher]
    elif option == "--teacher":
        extra = ["--teacher", bad]
    elif option == "--resume":
        work = tmp_path / "work"
        work.mkdir()
        os.replace(bad, work / "checkpoint.pt")
        extra = ["--resume", "--workdir", work, *teacher]
    else:  # the VGG weights are only read when the perceptual loss is on
        extra = ["--vgg-weights", bad, "--content-weight", "1e5", "--teacher", tiny_models["onnx"]]
    line = _one_line_exit_2(run_cli(*_train_args(tmp_path, tiny_models, *extra)))
    assert not marker.exists(), "the file's code ran"
    assert "bad.pt" in line or "checkpoint.pt" in line, line


def test_train_gan_resume_refuses_pickles(tmp_path, evil):
    make, marker = evil
    work = tmp_path / "work"
    work.mkdir()
    os.replace(make("bad.pt"), work / "checkpoint.pt")
    proc = run_cli("train-gan", "--data", _photos(tmp_path), "--out", tmp_path / "g.onnx", "--resolution", "32",
                   "--steps", "1", "--device", "cpu", "--workdir", work, "--resume", "--no-export")
    line = _one_line_exit_2(proc)
    assert not marker.exists(), "the file's code ran"
    assert "checkpoint.pt" in line, line


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_export_refuses_pickles(tmp_path, evil, fmt):
    make, marker = evil
    line = _one_line_exit_2(_module("exports", make("bad.pt", fmt), tmp_path / "out.onnx"))
    assert not marker.exists(), "the file's code ran"
    assert "refused" in line, line
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_runtime_refuses_pickles(tmp_path, evil, fmt):
    """--style and --generator take TorchScript archives, which hold no pickled Python
    objects; a pickle given in their place is an unreadable model."""
    import cv2
    import numpy as np

    make, marker = evil
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((32, 32, 3), 128, np.uint8))
    _one_line_exit_2(run_cli("image", photo, "--style", make("style.pt", fmt), "-o", tmp_path / "o.png"))
    _one_line_exit_2(run_cli("generate", "--generator", make("gen.pt", fmt), "-o", tmp_path / "g.png"))
    assert not marker.exists(), "the file's code ran"


def test_checkpoints_we_write_load_without_unpickling(tmp_path):
    """Our own checkpoints (RNG state included) are tensors and plain containers only."""
    import numpy as np
    import torch

    from trainers import services

    net = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters())
    services.save_checkpoint(tmp_path / "c.pt", 3, {"model": net, "optimizer": opt}, extra={"config": {"a": [1]}})
    torch.load(tmp_path / "c.pt", weights_only=True)  # raises if anything else is inside
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    services.save_checkpoint(tmp_path / "c.pt", 3, {"model": net, "optimizer": opt})
    np.random.rand()  # move on; loading must rewind the generator
    services.load_checkpoint(tmp_path / "c.pt", {"model": net, "optimizer": opt})
    assert np.random.rand() == expected


def test_a_checkpoint_given_as_style_says_how_to_export_it(tmp_path):
    import cv2
    import numpy as np
    import torch

    from conftest import assert_clean_error
    from trainers import services

    ckpt = tmp_path / "checkpoint.pt"
    services.save_checkpoint(ckpt, 1, {"model": torch.nn.Linear(2, 2)})
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((32, 32, 3), 128, np.uint8))
    assert_clean_error(run_cli("image", photo, "--style", ckpt, "-o", tmp_path / "o.png"), "python -m exports")

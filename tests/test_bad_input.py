"""Every bad input ends as one line on stderr, exit status 2, no traceback, no output file."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

from conftest import assert_clean_error, probe, run_cli


def _no_outputs(folder):
    return [p.name for p in folder.iterdir() if "out" in p.name or "partial" in p.name]


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "corrupt", "not_video", "folder"])
def test_bad_video_inputs(tmp_path, tiny_models, clips, kind):
    src = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        src.write_bytes(b"")
    elif kind == "truncated":
        # An ordinary MP4 keeps its index (moov) at the end: cut it off.
        data = clips["audio"].read_bytes()
        src.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt":
        rng = np.random.default_rng(0)
        src.write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif kind == "not_video":
        src = tmp_path / "notes.txt"
        src.write_text("this is not a video\n" * 100)
    elif kind == "folder":
        src = tmp_path / "adir"
        src.mkdir()
    proc = run_cli("video", src, tmp_path / "out.mp4", "--style", tiny_models["onnx"])
    assert_clean_error(proc)
    assert _no_outputs(tmp_path) == []


def test_audio_only_file_is_rejected(tmp_path, tiny_models):
    import av

    src = tmp_path / "tone.m4a"
    with av.open(str(src), "w") as out:
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate = 16000
        out.mux(a.encode(frame))
        out.mux(a.encode(None))
    assert_clean_error(run_cli("video", src, tmp_path / "out.mp4", "--style", tiny_models["onnx"]), "no video")


def test_damaged_middle_keeps_what_decodes(tmp_path, tiny_models):
    """A clip whose index comes first (faststart) with a stretch of its frame data zeroed: as
    ffmpeg does, the corrupt packets are skipped and counted, every frame that decodes is
    written, one warning line says so, and the run succeeds."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from fuzz_corpus import write_clip

    src = write_clip(tmp_path / "faststart.mp4", width=64, height=48, frames=30, faststart=True)
    data = bytearray(src.read_bytes())
    mdat = data.find(b"mdat")
    assert data.find(b"moov") < mdat            # the index comes first
    a, b = mdat + (len(data) - mdat) * 2 // 5, mdat + (len(data) - mdat) * 3 // 5
    data[a:b] = bytes(b - a)                       # the middle fifth of the frame data
    src.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    proc = run_cli("video", src, out, "--style", tiny_models["onnx"], "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylestream: warning: input is damaged"), proc.stderr
    s = json.loads(proc.stdout)
    assert s["skipped_packets"] > 0 and s["declared_frames"] == 30
    assert 0 < s["frames"] < 30 and probe(out)["frames"] == s["frames"]
    assert not list(tmp_path.glob(".*partial*"))


# An existing folder as the output is not among them: the video is written into it
# (test_batch.py::test_single_video_into_a_folder).
@pytest.mark.parametrize("target", ["missing_dir", "readonly_dir", "bad_suffix"])
def test_unwritable_output(tmp_path, tiny_models, clips, target):
    if target == "missing_dir":
        out = tmp_path / "nope" / "out.mp4"
    elif target == "readonly_dir":
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        out = ro / "out.mp4"
    else:
        out = tmp_path / "out.notaformat"
    assert_clean_error(run_cli("video", clips["plain"], out, "--style", tiny_models["onnx"]))


def test_output_under_readonly_path(tmp_path, tiny_models, clips):
    # Root ignores permission bits, so use a path whose parent is a file.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_clean_error(run_cli("video", clips["plain"], blocker / "out.mp4", "--style", tiny_models["onnx"]))


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage_onnx", "text_pt", "wrong_suffix", "no_metadata",
                                  "wrong_shape"])
@pytest.mark.parametrize("backend", ["auto", "onnxruntime"])     # auto: OpenVINO where installed
def test_wrong_model_files(tmp_path, clips, kind, backend):
    model = tmp_path / f"m.{'pt' if kind == 'text_pt' else 'bin' if kind == 'wrong_suffix' else 'onnx'}"
    if kind == "empty":
        model.write_bytes(b"")
    elif kind in ("garbage_onnx", "text_pt", "wrong_suffix"):
        model.write_bytes(b"definitely not a model" * 10)
    elif kind in ("no_metadata", "wrong_shape"):
        import torch

        net = torch.nn.Conv2d(3 if kind == "no_metadata" else 1, 3, 1)
        torch.onnx.export(net, (torch.rand(1, net.in_channels, 8, 8),), str(model), dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {2: "h", 3: "w"}})
        if kind == "wrong_shape":
            import onnx
            proto = onnx.load(str(model))
            p = proto.metadata_props.add()
            p.key, p.value = "kind", "stylestream.style"
            onnx.save(proto, str(model))
    proc = run_cli("video", clips["plain"], tmp_path / "out.mp4", "--style", model, "--backend", backend)
    assert_clean_error(proc)
    assert not (tmp_path / "out.mp4").exists()


def test_unknown_zoo_name_and_options(tmp_path, clips, tiny_models):
    assert_clean_error(run_cli("video", clips["plain"], tmp_path / "o.mp4", "--style", "no-such-style"), "unknown style")
    assert_clean_error(run_cli("video", clips["plain"], tmp_path / "o.mp4", "--style", tiny_models["onnx"],
                               "--strength", "2"), "strength")
    assert_clean_error(run_cli("video", clips["plain"], tmp_path / "o.mp4", "--style", tiny_models["onnx"],
                               "--max-size", "0"), "max-size")
    assert_clean_error(run_cli("video", "--nonsense"))
    assert_clean_error(run_cli("video", clips["plain"], tmp_path / "o.mp4", "--preset", "warp-speed"), "preset")
    assert_clean_error(run_cli("webcam", "--crf", "60", "--no-window"), "crf")
    assert_clean_error(run_cli("video", clips["plain"], clips["plain"], "--style", tiny_models["onnx"]), "overwrite")
    assert_clean_error(run_cli("video", clips["plain"], tmp_path / "o.mp4", "--style", tiny_models["onnx"],
                               "--backend", "openvino", "--device", "cuda"), "openvino")


def _png_header_only(path, width, height):
    """A tiny PNG that claims an enormous size: decoders must refuse, not allocate."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", ["huge_header", "over_limit", "garbage", "missing", "empty"])
def test_bad_images(tmp_path, tiny_models, kind):
    import cv2

    src = tmp_path / "in.png"
    env = None
    if kind == "huge_header":
        _png_header_only(src, 60000, 60000)
    elif kind == "over_limit":
        cv2.imwrite(str(src), np.zeros((300, 400, 3), np.uint8))
        env = {"STYLESTREAM_MAX_PIXELS": "100000"}
    elif kind == "garbage":
        src.write_bytes(b"nope" * 100)
    elif kind == "empty":
        src.write_bytes(b"")
    proc = run_cli("image", src, "-o", tmp_path / "out.png", "--style", tiny_models["onnx"], env=env)
    assert_clean_error(proc)
    assert not (tmp_path / "out.png").exists()


def test_cuda_request_without_cuda_is_honest(tmp_path, tiny_models, clips):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_cli("video", clips["plain"], tmp_path / "o.mp4", "--style", tiny_models["onnx"], "--device", "cuda")
    assert_clean_error(proc, "cuda")

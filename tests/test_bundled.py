"""The README's first command depends on what the repo ships: a sample clip and a default style."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, make_clip, probe, run_cli

SAMPLE = ROOT / "examples" / "sample.mp4"


def test_sample_clip_is_small_with_audio():
    assert SAMPLE.stat().st_size <= 2 * 2**20
    info = probe(SAMPLE)
    assert info["frames"] == 100 and info["sizes"] == {(640, 360)}
    assert info["audio_codec"] == "aac" and info["audio_packets"]


def test_default_style_is_a_trained_model():
    from stylenets.metadata import read_metadata
    from stylestream.zoo import DEFAULT_STYLE, resolve_style

    for on_gpu, arch, name in ((False, "compact", f"{DEFAULT_STYLE}.compact.onnx"), (True, "johnson", f"{DEFAULT_STYLE}.onnx")):
        path = resolve_style(None, on_gpu=on_gpu)
        assert path.name == name and path.stat().st_size <= 8 * 2**20
        meta = read_metadata(path)
        assert meta["kind"] == "stylestream.style" and meta["name"] == DEFAULT_STYLE
        assert int(meta["steps"]) >= 1000 and len(meta["style_sha256"]) == 64
        assert meta["arch"] == arch


def test_video_without_style_uses_the_default(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", width=96, height=64, frames=3)
    out = tmp_path / "o.mp4"
    proc = run_cli("video", clip, out, "--max-size", "64", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["style"] == "starry"
    import av
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        src = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        got = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(src - got).mean() > 20  # really stylized, not passed through


def test_zoo_picks_the_compact_net_on_cpu(tmp_path, monkeypatch):
    from stylestream import zoo
    from stylestream.errors import UserError

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    for name in ("a.onnx", "a.compact.onnx", "a.fp16.onnx", "b.onnx"):
        (tmp_path / name).write_bytes(b"x")
    assert {k: sorted(v) for k, v in zoo.zoo_models().items()} == {"a": ["compact", "johnson"], "b": ["johnson"]}
    assert zoo.resolve_style("a").name == "a.compact.onnx"
    assert zoo.resolve_style("a", on_gpu=True).name == "a.onnx"
    assert zoo.resolve_style("a", "johnson").name == "a.onnx"
    assert zoo.resolve_style("b").name == "b.onnx"                 # no compact net: the full one
    with pytest.raises(UserError, match="no compact model"):
        zoo.resolve_style("b", "compact")


def test_video_reports_which_net_ran(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", width=96, height=64, frames=2)
    for arch in ("johnson", "compact"):
        proc = run_cli("video", clip, tmp_path / f"{arch}.mp4", "--arch", arch, "--max-size", "64", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["arch"] == arch


def test_default_generator_is_a_trained_small_model():
    from stylenets.metadata import read_metadata
    from stylestream.zoo import DEFAULT_GENERATOR, resolve_generator, zoo_models

    path = resolve_generator(None)
    assert path.stem == DEFAULT_GENERATOR and path.stat().st_size <= 8 * 2**20
    meta = read_metadata(path)
    assert meta["kind"] == "stylestream.generator" and int(meta["steps"]) >= 1000
    # the generators are not listed as styles
    assert all(p.parent != path.parent for sizes in zoo_models().values() for p in sizes.values())


def test_generate_and_dream_need_no_arguments(tmp_path):
    grid = tmp_path / "grid.png"
    proc = run_cli("generate", "-o", grid, "--seeds", "0-3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import cv2
    image = cv2.imread(str(grid))
    assert image is not None and image.shape[0] >= 128 and image.std() > 10

    walk = tmp_path / "walk.mp4"
    proc = run_cli("dream", "--no-window", "--record", walk, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    from stylestream.api import DREAM_RECORD_SECONDS
    assert summary["frames"] == round(DREAM_RECORD_SECONDS * 30)
    assert probe(walk)["frames"] == summary["frames"]

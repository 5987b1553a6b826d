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


def _striped_picture(path, bgr) -> None:
    import cv2

    x = np.arange(160)
    stripes = (np.sin(x / 3.0)[None, :] * np.cos(x / 5.0)[:, None] * 0.5 + 0.5)[..., None]
    cv2.imwrite(str(path), (stripes * np.array(bgr) + (1 - stripes) * 30).astype(np.uint8))


def test_the_installed_any_picture_model_takes_the_pictures_palette(tmp_path):
    """`--style-image` needs no --style: the package ships a trained arbitrary-style model,
    and a red picture and a blue one give a redder and a bluer result of the same photo."""
    import cv2
    from stylenets.metadata import ARBITRARY_ENCODER_KIND, ARBITRARY_FRAME_KIND, read_metadata
    from stylestream.arbitrary import DEFAULT_MODEL

    frame = read_metadata(DEFAULT_MODEL)
    encoder = DEFAULT_MODEL.with_name(frame["style_encoder"])
    assert frame["kind"] == ARBITRARY_FRAME_KIND and read_metadata(encoder)["kind"] == ARBITRARY_ENCODER_KIND
    assert int(frame["steps"]) >= 1000 and frame.get("output") == "bilinear"
    assert max(DEFAULT_MODEL.stat().st_size, encoder.stat().st_size) <= 8 * 2**20

    photo = tmp_path / "photo.png"
    ramp = np.linspace(60, 200, 96)[None, :, None] * np.ones((64, 1, 3))
    cv2.imwrite(str(photo), cv2.GaussianBlur(ramp.astype(np.uint8), (5, 5), 0))
    means = {}
    for name, bgr in (("red", (40, 40, 230)), ("blue", (230, 60, 40))):
        _striped_picture(tmp_path / f"{name}.png", bgr)
        out = tmp_path / f"{name}.out.png"
        proc = run_cli("image", photo, "-o", out, "--style-image", tmp_path / f"{name}.png")
        assert proc.returncode == 0, proc.stderr
        got = cv2.imread(str(out)).astype(float)
        assert got.shape == (64, 96, 3)
        means[name] = got.reshape(-1, 3).mean(0)           # B, G, R
    assert means["red"][2] - means["red"][0] > means["blue"][2] - means["blue"][0] + 20

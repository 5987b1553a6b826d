"""Any picture as a style: a tiny arbitrary-style net trained here for a few steps, exported,
and run by `image`, `video` and `webcam` with --style-image."""
from __future__ import annotations

import http.client
import json
import shutil
import struct
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, VGG_WEIGHTS, assert_clean_error, make_clip, needs_vgg, run_cli, write_photos

pytestmark = needs_vgg


def _style_pictures(folder: Path) -> Path:
    """Three small pictures with different palettes and strokes."""
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(1)
    for i, tint in enumerate([(255, 60, 20), (20, 200, 255), (240, 240, 40)]):
        noise = rng.random((40, 56, 1)) * np.array(tint)
        stripes = (np.sin(np.arange(56) / (2 + i))[None, :, None] * 60)
        cv2.imwrite(str(folder / f"s{i}.png"), np.clip(noise + stripes, 0, 255).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from trainers.arbitrary.loop import train
    from trainers.arbitrary.config import ArbitraryConfig

    root = tmp_path_factory.mktemp("arbitrary")
    photos = root / "photos"
    photos.mkdir()
    write_photos(photos, count=4)
    styles = _style_pictures(root / "styles")
    cfg = ArbitraryConfig(data=[str(photos)], styles=[str(styles)], out=str(root / "tiny"), size=32, style_size=32,
                          steps=3, batch=2, width=8, enc_blocks=1, dec_blocks=1, hidden=16, output="shuffle",
                          precision="fp32",
                          vgg_weights=str(VGG_WEIGHTS), checkpoint_every=1000, sample_every=1000, device="cpu")
    result = train(cfg)
    shutil.copy(cfg.run_dir / "checkpoint.pt", root / "exported.pt")     # a test below trains on from it
    return {"cfg": cfg, "result": result, "frame": root / "tiny.frame.onnx", "encoder": root / "tiny.encoder.onnx",
            "styles": sorted(styles.iterdir()), "style_dir": styles, "root": root, "photo_dir": photos}


def test_training_exports_both_parts_and_resumes(trained):
    from dataclasses import replace

    from stylenets.metadata import ARBITRARY_ENCODER_KIND, ARBITRARY_FRAME_KIND, read_metadata
    from trainers.arbitrary.loop import train

    assert trained["result"]["steps"] == 3
    assert all(np.isfinite(v) for k, v in trained["result"]["history"][-1].items())
    frame, encoder = read_metadata(trained["frame"]), read_metadata(trained["encoder"])
    assert frame["kind"] == ARBITRARY_FRAME_KIND and encoder["kind"] == ARBITRARY_ENCODER_KIND
    assert frame["style_encoder"] == trained["encoder"].name and frame["style_size"] == "32"
    assert all(d < 1e-3 for _, d in trained["result"]["exports"].values())
    more = train(replace(trained["cfg"], steps=4, resume=True, export=False))
    assert more["steps"] == 4 and len(more["history"]) == 1


def test_a_checkpoint_exports_from_the_command_line(trained, tmp_path):
    import subprocess
    import sys

    from stylenets.metadata import read_metadata

    checkpoint = trained["root"] / "exported.pt"
    proc = subprocess.run([sys.executable, "-m", "exports.arbitrary", checkpoint, tmp_path / "again"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert read_metadata(tmp_path / "again.frame.onnx")["steps"] == "3"
    bad = subprocess.run([sys.executable, "-m", "exports.arbitrary", trained["photo_dir"] / "p0.png", tmp_path / "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_a_bilinear_output_starts_from_a_shuffle_checkpoint_and_runs(trained, tmp_path):
    """--init converts the shuffle output's four sub-pixel phases into one full-resolution
    convolution; the run resumes, exports with the steps behind it, and `image` runs it."""
    import torch
    from dataclasses import replace

    from stylenets.arbitrary import ArbitraryStyleNet, build
    from stylenets.metadata import read_metadata
    from trainers.arbitrary.loop import initial_weights, train

    config = {k: v for k, v in build({"arch": "adain-light", "width": 8, "enc_blocks": 1, "dec_blocks": 1,
                                      "hidden": 16}).config().items() if k != "arch"}
    assert "output" not in config                       # configurations from before the option still match
    net = ArbitraryStyleNet(**config, output="bilinear")
    assert build(net.config()).output == "bilinear"
    weights, before = initial_weights(str(trained["root"] / "exported.pt"), net)
    assert before == 3 and weights["out_conv.weight"].shape == (3, 8, 3, 3)
    shuffle = torch.load(trained["root"] / "exported.pt", weights_only=True)["state/model"]["out_conv.weight"]
    assert torch.allclose(weights["out_conv.weight"][1], shuffle[4:8].mean(0))    # green: channels 4..7
    with pytest.raises(ValueError, match="network"):
        initial_weights(str(trained["root"] / "exported.pt"), ArbitraryStyleNet(**{**config, "width": 4}))

    cfg = replace(trained["cfg"], out=str(tmp_path / "bil"), workdir=str(tmp_path / "bil.run"), steps=2,
                  output="bilinear", init=str(trained["root"] / "exported.pt"), resume=True)
    first = train(cfg)                                   # no checkpoint yet: --init starts the run
    assert first["steps"] == 2 and all(d < 1e-3 for _, d in first["exports"].values())
    more = train(replace(cfg, steps=3))                  # a checkpoint now: --resume continues it
    assert more["steps"] == 3 and len(more["history"]) == 1
    meta = read_metadata(tmp_path / "bil.frame.onnx")
    assert meta["output"] == "bilinear" and meta["steps"] == "6"
    # An export (the installed model too) is a start of its own: every weight comes back.
    again, before = initial_weights(str(tmp_path / "bil.frame.onnx"), net)
    trained_state = torch.load(tmp_path / "bil.run" / "checkpoint.pt", weights_only=True)["state/model"]
    assert before == 6 and all(torch.allclose(again[k], trained_state[k], atol=1e-6) for k in trained_state)
    with pytest.raises(ValueError, match="not an arbitrary-style frame network"):
        initial_weights(str(tmp_path / "bil.encoder.onnx"), net)
    out = tmp_path / "o.png"
    write_photos(tmp_path, count=1, height=40, width=52)
    proc = run_cli("image", tmp_path / "p0.png", "-o", out, "--style", tmp_path / "bil.frame.onnx",
                   "--style-image", trained["styles"][0])
    assert proc.returncode == 0 and out.is_file(), proc.stderr


def test_holdout_pictures_and_test_folders_are_refused(tmp_path):
    from trainers.arbitrary.data import holdout, training_pictures

    held = holdout()
    assert len(held) >= 12
    name = next(iter(held))
    folder = tmp_path / "styles"
    _style_pictures(folder)
    shutil.copy(folder / "s0.png", folder / name)    # a held-out name
    keep, refused = training_pictures([str(folder)])
    assert [p.name for p in refused] == [name] and len(keep) == 3
    candy = SHARED / "styles" / "candy.jpg"
    if candy.is_file():                                # held-out content under another name
        shutil.copy(candy, folder / "renamed.jpg")
        assert "renamed.jpg" in [p.name for p in training_pictures([str(folder)])[1]]
    test_folder = tmp_path / "test"
    shutil.copytree(folder, test_folder)
    with pytest.raises(ValueError, match="test folder"):
        training_pictures([str(test_folder)])


def test_a_vgg_code_network_starts_from_a_light_one_and_runs(trained, tmp_path):
    """--code vgg: the style code gains VGG16's statistics of the picture. From a light-code
    checkpoint the VGG part starts at zero, so the first output is the light network's; it
    trains, exports an encoder that holds VGG16, rebuilds from its frame file, and `image` runs it."""
    import torch
    from dataclasses import replace

    from stylenets.arbitrary import ArbitraryStyleNet, StyleEncoderGraph, code_features, build
    from stylenets.metadata import read_metadata
    from stylenets.perceptual import load_vgg16_features
    from trainers.arbitrary.loop import initial_weights, train

    checkpoint = torch.load(trained["root"] / "exported.pt", weights_only=True)
    light = build(checkpoint["extra"]["model_config"]).eval()
    light.load_state_dict(checkpoint["state/model"])
    config = {k: v for k, v in light.config().items() if k != "arch"}
    net = ArbitraryStyleNet(**config, code="vgg").eval()
    weights, _ = initial_weights(str(trained["root"] / "exported.pt"), net)
    net.load_state_dict(weights)
    assert build(net.config()).code == "vgg" and net.code_size == light.code_size + 2 * (64 + 128 + 256)
    encoder = StyleEncoderGraph(net, code_features(load_vgg16_features(str(VGG_WEIGHTS), "relu3_3")))
    photo, picture = torch.rand(1, 3, 36, 44), torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(net(photo, encoder(picture)), light(photo, light.style_code(picture)))
    with pytest.raises(ValueError, match="VGG16"):
        StyleEncoderGraph(net)

    cfg = replace(trained["cfg"], out=str(tmp_path / "v"), workdir=str(tmp_path / "v.run"), steps=2, code="vgg",
                  init=str(trained["root"] / "exported.pt"), resume=False)
    result = train(cfg)
    assert all(np.isfinite(v) for v in result["history"][-1].values())
    assert all(d < 1e-3 for _, d in result["exports"].values())
    meta = read_metadata(tmp_path / "v.frame.onnx")
    assert meta["code"] == "vgg" and meta["code_size"] == str(net.code_size)
    again, before = initial_weights(str(tmp_path / "v.frame.onnx"), net)
    assert before == 5 and any(v.abs().sum() > 0 for k, v in again.items() if k.startswith("vgg_mlp.2"))
    with pytest.raises(ValueError, match="network"):         # a vgg code does not go back to a light one
        initial_weights(str(tmp_path / "v.frame.onnx"), light)
    write_photos(tmp_path, count=1, height=40, width=52)
    outs = []
    for picture in trained["styles"][:2]:
        outs.append(tmp_path / f"{picture.stem}.png")
        proc = run_cli("image", tmp_path / "p0.png", "-o", outs[-1], "--style", tmp_path / "v.frame.onnx",
                       "--style-image", picture)
        assert proc.returncode == 0 and outs[-1].is_file(), proc.stderr
    assert outs[0].read_bytes() != outs[1].read_bytes()


def _image(trained, tmp_path, name, *extra) -> tuple[np.ndarray, dict]:
    import cv2

    photo = tmp_path / "photo.png"
    if not photo.exists():
        write_photos(tmp_path, count=1, height=40, width=52)
        (tmp_path / "p0.png").rename(photo)
    out = tmp_path / f"{name}.png"
    proc = run_cli("image", photo, "-o", out, "--style", trained["frame"], "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return cv2.imread(str(out)), json.loads(proc.stdout)


def test_image_with_a_style_picture(trained, tmp_path):
    a, summary = _image(trained, tmp_path, "a", "--style-image", trained["styles"][0])
    b, _ = _image(trained, tmp_path, "b", "--style-image", trained["styles"][1])
    assert summary["style"] == trained["styles"][0].stem
    assert a.shape == (40, 52, 3) and np.abs(a.astype(int) - b.astype(int)).max() > 0


def test_mix_of_two_styles_is_each_style_at_the_ends(trained, tmp_path):
    s0, s1 = trained["styles"][:2]
    a, _ = _image(trained, tmp_path, "a", "--style-image", s0)
    b, _ = _image(trained, tmp_path, "b", "--style-image", s1)
    start, _ = _image(trained, tmp_path, "m0", "--style-image", s0, "--style-image", s1, "--mix", "0")
    end, _ = _image(trained, tmp_path, "m1", "--style-image", s0, "--style-image", s1, "--mix", "1")
    half, _ = _image(trained, tmp_path, "mh", "--style-image", s0, "--style-image", s1, "--mix", "0.5", "0.5")
    assert np.array_equal(start, a) and np.array_equal(end, b)
    assert not np.array_equal(half, a) and not np.array_equal(half, b)


def test_strength_zero_is_the_frames_own_statistics(trained, tmp_path):
    """At strength 0 the style code is the frame's own: the style picture no longer matters."""
    s0, s1 = trained["styles"][:2]
    a, _ = _image(trained, tmp_path, "a", "--style-image", s0, "--strength", "0")
    b, _ = _image(trained, tmp_path, "b", "--style-image", s1, "--strength", "0")
    assert np.array_equal(a, b)
    c, _ = _image(trained, tmp_path, "c", "--style-image", s0, "--strength", "0.5")
    assert not np.array_equal(a, c)


def test_strength_zero_matches_the_pytorch_net(trained, tmp_path):
    """The runtime's result at strength 0 is the trained net's on the frame's own code (any code given)."""
    import cv2
    import torch

    from stylenets.arbitrary import build
    from stylenets.checkpoints import load_state

    state = load_state(trained["root"] / "exported.pt")
    net = build(state["extra"]["model_config"]).eval()
    net.load_state_dict(state["state/model"])
    a, _ = _image(trained, tmp_path, "a", "--style-image", trained["styles"][0], "--strength", "0",
                  "--backend", "onnxruntime")
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "photo.png")), cv2.COLOR_BGR2RGB)
    photo = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ref = net(photo, torch.zeros(1, net.code_size) + 1, 0.0)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(cv2.cvtColor(a, cv2.COLOR_BGR2RGB).astype(float) - ref).max() <= 1.5


def test_video_with_a_style_picture_and_temporal_consistency(trained, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=8)
    out = tmp_path / "out.mp4"
    proc = run_cli("video", clip, out, "--style", trained["frame"], "--style-image", trained["styles"][0],
                   "--temporal-strength", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames"] == 8 and summary["style"] == trained["styles"][0].stem and out.stat().st_size > 0


def test_webcam_switches_between_a_folders_pictures(trained, tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", frames=10)
    out = tmp_path / "rec.mp4"
    proc = run_cli("webcam", "--camera", clip, "--style", trained["frame"], "--style-image", trained["style_dir"],
                   "--no-window", "--seconds", "1", "--record", out, "--json")
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width×height, with no pixels behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)))
    return path


def test_bad_style_pictures_are_one_line_and_exit_2(trained, tmp_path):
    import cv2

    write_photos(tmp_path, count=1)
    photo = tmp_path / "p0.png"
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    huge = _png_claiming(tmp_path / "huge.png", 40000, 40000)
    cases = {tmp_path / "missing.jpg": "not found", corrupt: "not a readable image", tiny: "too small",
             huge: "pixel limit", tmp_path / "p0.png": None}
    for picture, needle in cases.items():
        proc = run_cli("image", photo, "-o", tmp_path / "out.png", "--style", trained["frame"],
                       "--style-image", picture)
        if needle is None:
            assert proc.returncode == 0, proc.stderr
        else:
            assert_clean_error(proc, needle)
    assert_clean_error(run_cli("video", tmp_path / "none.mp4", tmp_path / "o.mp4", "--style", trained["frame"],
                               "--style-image", corrupt), "")


def test_option_mistakes_are_one_line(trained, tmp_path):
    write_photos(tmp_path, count=1)
    photo, out = tmp_path / "p0.png", tmp_path / "o.png"
    s0, s1 = trained["styles"][:2]
    assert_clean_error(run_cli("image", photo, "-o", out, "--mix", "0.5"), "--mix")
    assert_clean_error(run_cli("image", photo, "-o", out, "--style", trained["frame"], "--style-image", s0,
                               "--style-image", s1, "--mix", "0.2", "0.3", "0.5"), "--mix")
    assert_clean_error(run_cli("image", photo, "-o", out, "--style", "candy", "--style-image", s0), "--style")
    assert_clean_error(run_cli("image", photo, "-o", out, "--style", trained["frame"]), "--style-image")
    assert_clean_error(run_cli("image", photo, "-o", out, "--style", trained["encoder"], "--style-image", s0),
                       "frame net")


def test_without_an_installed_model_says_how_to_get_one(tmp_path, monkeypatch):
    from stylestream import arbitrary
    from stylestream.errors import UserError

    monkeypatch.setattr(arbitrary, "DEFAULT_MODEL", tmp_path / "adain.frame.onnx")
    with pytest.raises(UserError, match="no arbitrary-style model is installed"):
        arbitrary.ArbitraryModel(None)


def test_style_pictures_run_without_torch(trained, tmp_path):
    """The plain install has no PyTorch: --style-image runs on the exported files alone."""
    from test_without_torch import run_without_torch

    write_photos(tmp_path, count=1)
    out = tmp_path / "o.png"
    proc = run_without_torch("image", tmp_path / "p0.png", "-o", out, "--style", trained["frame"],
                             "--style-image", trained["styles"][0], "--strength", "0.6")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 0


def test_an_uploaded_picture_is_the_same_style_as_the_picture_given(trained, tmp_path):
    """The studio page's upload path paints exactly what `--style-image` paints, on the same
    engine (the default one may run bf16 where the CPU has it)."""
    import cv2

    from stylestream.api import StyleOptions, _picture_styles

    reference, _ = _image(trained, tmp_path, "ref", "--style-image", trained["styles"][1], "--backend", "onnxruntime")
    make = _picture_styles(str(trained["frame"]), StyleOptions(backend="onnxruntime"))
    stylizer = make(trained["styles"][1].read_bytes(), ".png", "upload")
    photo = cv2.cvtColor(cv2.imread(str(tmp_path / "photo.png")), cv2.COLOR_BGR2RGB)
    painted = cv2.cvtColor(stylizer(photo), cv2.COLOR_RGB2BGR)
    assert np.abs(painted.astype(int) - reference.astype(int)).max() <= 1
    with pytest.raises(Exception, match=r"^bad\.jpg: not a readable image"):
        make(b"\xff\xd8\xff\xe0 not a jpeg" * 10, ".jpg", "bad")


def test_the_studio_page_takes_a_picture_as_a_style(trained, tmp_path):
    """POST /style-picture and the page's file input: the picture becomes a style, switched to;
    bad uploads are refused with a message while the stream plays on."""
    import webdriver
    from test_serve import start_studio

    from stylestream.jobs.serve import MAX_PICTURE_BYTES

    clip = make_clip(tmp_path / "cam.mp4", width=96, height=64, frames=20, fps=10)
    studio = start_studio(clip, "--style", trained["frame"], "--style-image", trained["styles"][0], "--seconds", "300")
    try:
        assert studio.json("/controls")["picture_styles"] is True
        s1 = trained["styles"][1]
        status, controls = studio.post(s1.read_bytes(), "image/png", "style-picture?name=My%20Painting.png")
        assert status == 200 and controls["style"] == "My-Painting" and "My-Painting" in controls["styles"], controls
        status, controls = studio.post(s1.read_bytes(), "image/png", "style-picture?name=My%20Painting.png")
        assert controls["style"] == "My-Painting-2"
        at, _ = studio.snapshot()
        assert studio.json("/status")["style"] == "My-Painting-2"
        refused = {
            "corrupt": (b"\xff\xd8\xff\xe0 not a jpeg" * 10, "image/jpeg", 400, "not a readable image"),
            "type": (s1.read_bytes(), "text/plain", 415, "image/jpeg"),
        }
        for name, (body, kind, code, needle) in refused.items():
            status, answer = studio.post(body, kind, f"style-picture?name={name}.png")
            assert status == code and needle in answer["error"] and "\n" not in answer["error"], (name, answer)
        # An oversize picture is refused on its headers, before its bytes are read.
        address = urllib.parse.urlsplit(studio.url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        connection.putrequest("POST", "/style-picture?name=huge.png")
        connection.putheader("Content-Type", "image/png")
        connection.putheader("Content-Length", str(MAX_PICTURE_BYTES + 1))
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 413 and "at most" in json.loads(answer.read())["error"]
        connection.close()
        assert studio.json("/controls")["style"] == "My-Painting-2"
        studio.snapshot(after=at + 1)             # the stream plays on
        if webdriver.missing() is None:
            with webdriver.Browser() as browser:
                browser.open(studio.url)
                browser.wait_for("return window.studio.frames >= 2 && !document.getElementById('upload').hidden")
                browser.choose_file("#picture", trained["styles"][2])
                browser.wait_for("return document.getElementById('style').value === 's2'", 60)
                assert studio.json("/controls")["style"] == "s2"
                painted = browser.run("return window.studio.frames")
                browser.wait_for("return window.studio.frames >= arguments[0] + 3", 20, painted)
    finally:
        studio.proc.terminate()
        studio.proc.communicate(timeout=60)

"""The Python API: stylestream.open / video / image, on tiny models and the zoo's starry."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import make_clip, probe


def _frames(count: int = 4, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """A gradient sliding right by 2 px a frame: motion the optical flow can follow."""
    yy, xx = np.mgrid[0:height, 0:width]
    return [np.stack([(xx * 4 + i * 8) % 256, (yy * 5) % 256, (xx + yy) % 256], -1).astype(np.uint8)
            for i in range(count)]


def _alone(model, frame: np.ndarray) -> np.ndarray:
    """The frame stylized on its own, by the same engine the API opens below."""
    from stylestream.backends import open_engine
    from stylestream.stylizer import Stylizer

    return Stylizer(open_engine(model, "cpu", "onnxruntime"), max_size=640)(frame)


def test_import_stays_light():
    code = ("import sys, stylestream\n"
            "assert callable(stylestream.open) and callable(stylestream.video) and callable(stylestream.image)\n"
            "heavy = [m for m in ('torch', 'cv2', 'onnxruntime', 'openvino', 'av') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_open_stylizes_frame_by_frame_with_temporal_history(tiny_models):
    import stylestream

    model = tiny_models["onnx"]
    frames = _frames()
    alone = [_alone(model, f) for f in frames]
    with stylestream.open(model, device="cpu", backend="onnxruntime", temporal=None) as stylize:
        for frame, want in zip(frames, alone):
            out = stylize(frame)
            assert out.dtype == np.uint8 and out.shape == frame.shape
            np.testing.assert_array_equal(out, want)         # no history: each frame on its own

    with stylestream.open(model, device="cpu", backend="onnxruntime", temporal=0.8) as stylize:
        np.testing.assert_array_equal(stylize(frames[0]), alone[0])     # nothing to blend with yet
        second = stylize(frames[1])
        assert np.abs(second.astype(int) - alone[1]).max() > 0         # blended with the warped first output
        stylize.reset()
        np.testing.assert_array_equal(stylize(frames[1]), alone[1])     # reset: the history is gone
    with pytest.raises(stylestream.UserError, match="closed"):
        stylize(frames[0])


def test_open_blends_and_checks_its_frames(tiny_models):
    import stylestream

    frame = _frames(1)[0]
    with stylestream.open(tiny_models["onnx"], device="cpu", strength=0.0, temporal=None) as stylize:
        np.testing.assert_array_equal(stylize(frame), frame)             # strength 0: the source itself
        with pytest.raises(stylestream.UserError, match="uint8"):
            stylize(frame.astype(np.float32))
        with pytest.raises(stylestream.UserError, match="H×W×3"):
            stylize(frame[..., 0])


def test_open_zoo_style():
    import stylestream

    frame = _frames(1, 96, 64)[0]
    with stylestream.open("starry", device="cpu") as stylize:
        assert stylize.engine.name == "starry" and stylize.engine.metadata.get("arch") == "compact"  # arch auto on CPU
        out = stylize(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).mean() > 10


def test_video_and_image_write_real_files(tiny_models, tmp_path):
    import stylestream

    clip = make_clip(tmp_path / "in.mp4", frames=8)
    summary = stylestream.video(clip, tmp_path / "out.mp4", style=tiny_models["onnx"], device="cpu", temporal=None)
    assert summary["frames"] == 8 and not summary["interrupted"] and summary["temporal"] is None
    got = probe(tmp_path / "out.mp4")
    assert got["frames"] == 8 and got["sizes"] == {(64, 48)}

    photo = tmp_path / "photo.png"
    rgb = _frames(1)[0]
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    beside = stylestream.image(photo, style=tiny_models["onnx"], device="cpu", backend="onnxruntime")
    assert beside == tmp_path / "photo.tiny.png"
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(beside)), cv2.COLOR_BGR2RGB),
                                  _alone(tiny_models["onnx"], rgb))
    named = stylestream.image(photo, tmp_path / "named.jpg", style=tiny_models["onnx"], device="cpu")
    assert named == tmp_path / "named.jpg" and cv2.imread(str(named)).shape == (48, 64, 3)


@pytest.mark.parametrize("call, option", [
    (lambda s, m, d: s.open(m, strength=2), "--strength"),
    (lambda s, m, d: s.open(m, temporal=1.5), "--temporal-strength"),
    (lambda s, m, d: s.open(m, arch="huge"), "--arch"),
    (lambda s, m, d: s.open(m, backend="warp-speed"), "--backend"),
    (lambda s, m, d: s.open(m, max_size=2), "--max-size"),
    (lambda s, m, d: s.open("no-such-style"), "unknown style"),
    (lambda s, m, d: s.video(d / "in.mp4", d / "out.mp4", m, crf=99), "--crf"),
    (lambda s, m, d: s.video(d / "in.mp4", d / "out.mp4", m, preset="instant"), "--preset"),
    (lambda s, m, d: s.image(d / "absent.png", style=m), "not found"),
    (lambda s, m, d: s.dream(m, fps=0, record=d / "walk.mp4"), "--fps"),
])
def test_a_bad_option_is_a_user_error(tiny_models, tmp_path, call, option):
    import stylestream

    make_clip(tmp_path / "in.mp4", frames=2)
    with pytest.raises(stylestream.UserError) as caught:
        call(stylestream, tiny_models["onnx"], tmp_path)
    message = str(caught.value)
    assert option in message and "\n" not in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]     # nothing written

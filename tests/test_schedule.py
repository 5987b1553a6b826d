"""`video --style-schedule "0:A,1s:B" --crossfade D`: timed style changes in a file, checked
frame by frame against runs of each style alone, on a generated clip (lossless, --crf 0)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_clean_error, make_clip, run_cli


@pytest.fixture(scope="module")
def two_styles(tmp_path_factory, tiny_models):
    """Two tiny nets that paint differently: A is the session's, B another seed's."""
    import torch

    from exports.formats import export_onnx
    from stylenets.transformer_net import TransformerNet

    torch.manual_seed(1)
    net = TransformerNet(width=4, res_blocks=1).eval()
    b = tmp_path_factory.mktemp("style_b") / "other.onnx"
    export_onnx(net, b, {"kind": "stylestream.style", "name": "other", "train_size": 32, "steps": 0, **net.config()})
    return tiny_models["onnx"], b


def frames_of(path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.int16)


def stylize(tmp_path, clip, name, *args) -> tuple[np.ndarray, dict]:
    out = tmp_path / f"{name}.mp4"
    proc = run_cli("video", clip, out, "--crf", "0", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return frames_of(out), json.loads(proc.stdout)


@pytest.mark.parametrize("temporal", [False, True], ids=["independent", "temporal"])
def test_schedule_switches_and_crossfades(tmp_path, two_styles, temporal):
    a, b = two_styles
    # 20 frames at 10 fps; B from 1 s (frame 10), faded in over 0.5 s (frames 10–14).
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=20, fps=10)
    flags = () if temporal else ("--no-temporal",)
    only_a, _ = stylize(tmp_path, clip, "a", "--style", a, *flags)
    only_b, _ = stylize(tmp_path, clip, "b", "--style", b, *flags)
    got, s = stylize(tmp_path, clip, "sched", "--style-schedule", f"0:{a},1s:{b}", "--crossfade", "0.5s", *flags)
    assert [c["at_seconds"] for c in s["schedule"]] == [0, 1] and s["crossfade_seconds"] == 0.5
    assert len(got) == len(only_a) == 20
    diff_a = np.abs(got - only_a).mean(axis=(1, 2, 3))
    diff_b = np.abs(got - only_b).mean(axis=(1, 2, 3))
    # Before the switch and at it (weight 0): style A, frame for frame, history and all.
    assert diff_a[:11].max() == 0, diff_a
    if not temporal:
        # Between: the mix of the two at the frame's weight; after: style B exactly.
        for i, w in zip(range(11, 15), (0.2, 0.4, 0.6, 0.8)):
            mix = (1 - w) * only_a[i] + w * only_b[i]
            # (4:2:0 chroma, rounded on each side of the mix: a few levels at colour edges)
            off, apart = np.abs(got[i] - mix).mean(), np.abs(only_a[i] - only_b[i]).mean()
            assert off < 1.0 and off < 0.1 * apart and np.abs(got[i] - mix).max() <= 6, (i, off, apart)
        assert diff_b[15:].max() == 0, diff_b
    else:
        # B's own history starts at the fade: B's picture, not A's dragged along by the flow.
        assert (diff_b[15:] < 0.25 * diff_a[15:]).all(), (diff_a, diff_b)
    # Across the fade the picture moves from A towards B step by step.
    assert (np.diff(diff_a[10:16]) > 0).all() and (np.diff(diff_b[10:16]) < 0).all(), (diff_a, diff_b)


def test_hard_switch_by_frame_number(tmp_path, two_styles):
    a, b = two_styles
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=12, fps=10)
    only_a, _ = stylize(tmp_path, clip, "a", "--style", a, "--no-temporal")
    only_b, _ = stylize(tmp_path, clip, "b", "--style", b, "--no-temporal")
    got, _ = stylize(tmp_path, clip, "sched", "--style-schedule", f"0:{a},7f:{b}", "--no-temporal")
    assert np.abs(got[:7] - only_a[:7]).max() == 0 and np.abs(got[7:] - only_b[7:]).max() == 0


@pytest.mark.parametrize("schedule,extra,needle", [
    ("0:starry,ten:candy", (), "not a time"),
    ("0:starry,10s", (), "TIME:STYLE"),
    ("0:starry,5s:nosuchstyle", (), "unknown style"),
    ("0:starry,5s:candy,2s:mosaic", (), "must increase"),
    ("1s:starry,5s:candy", (), "starts at 0"),
    ("0:starry,0.5s:candy", ("--crossfade", "1s"), "longer than"),
    ("0:starry,10f:candy,0.5s:mosaic", (), "must increase"),    # 10 frames at 10 fps is 1 s
])
def test_bad_schedules_are_one_line(tmp_path, schedule, extra, needle):
    clip = make_clip(tmp_path / "clip.mp4", frames=12, fps=10)
    assert_clean_error(run_cli("video", clip, tmp_path / "o.mp4", "--style-schedule", schedule, *extra), needle)
    assert not (tmp_path / "o.mp4").exists()


def test_crossfade_needs_a_schedule_and_style_excludes_it(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    assert_clean_error(run_cli("video", clip, tmp_path / "o.mp4", "--crossfade", "1s"), "--style-schedule")
    assert_clean_error(run_cli("video", clip, tmp_path / "o.mp4", "--style", "candy", "--style-schedule",
                               "0:starry"), "not both")

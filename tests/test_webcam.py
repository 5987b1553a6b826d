"""`stylestream webcam`, driven from a video file as the camera."""
from __future__ import annotations

import json
import time

from conftest import assert_clean_error, make_clip, probe, run_cli


def test_webcam_from_file_records(tmp_path, tiny_models):
    cam = make_clip(tmp_path / "cam.mp4", width=64, height=48, frames=20, fps=20)
    out = tmp_path / "rec.mp4"
    proc = run_cli("webcam", "--camera", cam, "--style", tiny_models["onnx"], "--style", tiny_models["pt"],
                   "--no-window", "--record", out, "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["captured"] == 20
    assert s["frames"] + s["dropped"] == s["captured"]
    assert s["recorded_frames"] == s["frames"] > 0
    got = probe(out)
    assert got["frames"] == s["frames"] and got["sizes"] == {(64, 48)}
    # Wall-clock timestamps: the file camera is played in real time, so its last frame comes
    # at least ~1 s (20 frames at 20 fps) in, and the recording cannot outlast the run.
    assert 0.8 < got["video_times"][-1] <= s["seconds"] + 0.05, (got["video_times"][-1], s["seconds"])


def test_latency_stays_bounded_when_inference_is_slow(tmp_path):
    """A 25 fps camera and a 5 fps consumer: stale frames are dropped, never queued."""
    from stylestream.sources import CameraSource

    cam = make_clip(tmp_path / "cam.mp4", width=64, height=48, frames=50, fps=25)
    source = CameraSource(str(cam))
    ages, seqs = [], []
    try:
        while (got := source.read()) is not None:
            seq, captured_at, _ = got
            ages.append(time.perf_counter() - captured_at)
            seqs.append(seq)
            time.sleep(0.2)  # slow "inference"
    finally:
        source.close()
    # Each read is the newest frame: a frame's age stays under the consumer's 0.2 s period
    # (a queue would age them by 0.2 s more on every read), and the frames in between are
    # counted as dropped. No absolute speed is assumed of a loaded machine.
    assert len(seqs) + source.dropped == source.captured == 50
    assert source.dropped >= len(seqs), (source.dropped, len(seqs))
    assert max(ages) < 0.15, ages
    assert all(b - a >= 2 for a, b in zip(seqs[1:-1], seqs[2:-1])), seqs   # never the next one in line


def test_webcam_bad_camera(tmp_path, tiny_models):
    assert_clean_error(run_cli("webcam", "--camera", tmp_path / "none.mp4", "--style", tiny_models["onnx"],
                               "--no-window", "--seconds", "5"), "not found")
    assert_clean_error(run_cli("webcam", "--camera", "/dev/video99", "--style", tiny_models["onnx"],
                               "--no-window", "--seconds", "5"), "camera")


def test_no_window_needs_a_recording_or_a_time_limit():
    assert_clean_error(run_cli("webcam", "--no-window"), "--record")


def test_no_camera_says_what_to_try():
    assert_clean_error(run_cli("webcam", "--camera", "57", "--no-window", "--seconds", "1"), "--camera N")

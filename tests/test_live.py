"""The live loop webcam and dream share (jobs/live.py): its keys, limits and outputs, driven by
a counting producer and an output that presses scripted keys, into a real recording."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from conftest import probe


class Counting:
    """Frame n is filled with n; while paused the last frame is shown again, not recorded."""

    def __init__(self, fail_at: int | None = None):
        self.made, self.keys, self.closed, self.fail_at = 0, [], False, fail_at

    def next(self, paused):
        from stylestream.jobs.live import LiveFrame

        if paused and self.made:
            return LiveFrame(np.full((32, 32, 3), self.made * 20, np.uint8), fresh=False, record=False)
        self.made += 1
        if self.made == self.fail_at:
            raise RuntimeError("the producer failed")
        return LiveFrame(np.full((32, 32, 3), self.made * 20, np.uint8))

    def overlay(self, paused):
        return [f"frame {self.made}" + (" paused" if paused else "")]

    def key(self, key):
        self.keys.append(key)

    def close(self):
        self.closed = True


class ScriptedKeys:
    """An interactive output whose viewer presses `keys`, one per frame shown."""
    interactive = True

    def __init__(self, keys):
        self.keys, self.shown, self.closed = list(keys), [], False

    def write(self, frame, overlay):
        self.shown.append((int(frame.image[0, 0, 0]), overlay[0]))

    def key(self, wait_ms):
        return self.keys.pop(0) if self.keys else -1

    def close(self):
        self.closed = True

    abort = close


def test_keys_pause_snapshot_and_quit(tmp_path, monkeypatch):
    from stylestream.jobs.live import Recording, run_live

    monkeypatch.chdir(tmp_path)
    producer = Counting()
    viewer = ScriptedKeys([-1, ord(" "), -1, ord("x"), ord(" "), ord("s"), ord("q")])
    recording = Recording(tmp_path / "rec.mp4", Fraction(10))
    run = run_live(producer, [recording, viewer], snapshot_prefix="test")
    # Frames 1, 2, then frame 2 three times while paused, then 3 (snapshot) and 4 (quit).
    assert [v for v, _ in viewer.shown] == [20, 40, 40, 40, 40, 60, 80]
    assert viewer.shown[2][1] == "frame 2 paused"
    assert producer.keys == [ord(" "), ord("x"), ord(" ")]       # space after pausing; q and s stay the loop's
    assert run.frames == 4 and run.snapshots == 1 and not run.interrupted
    assert producer.closed and viewer.closed
    assert len(list(tmp_path.glob("test-*-1.png"))) == 1
    got = probe(tmp_path / "rec.mp4")
    assert got["frames"] == recording.frames == 4                  # paused repeats are not recorded
    assert got["video_times"][-1] == pytest.approx(0.3)            # counted at the recording's rate


def test_frame_limit_without_a_window(tmp_path):
    from stylestream.jobs.live import Recording, run_live

    producer = Counting()
    recording = Recording(tmp_path / "rec.mp4", Fraction(25))
    run = run_live(producer, [recording], max_frames=5)
    assert run.frames == producer.made == 5 and producer.closed
    assert probe(tmp_path / "rec.mp4")["frames"] == 5


def test_a_failing_producer_aborts_the_outputs(tmp_path):
    from stylestream.jobs.live import Recording, run_live

    producer, viewer = Counting(fail_at=3), ScriptedKeys([])
    with pytest.raises(RuntimeError):
        run_live(producer, [Recording(tmp_path / "rec.mp4", Fraction(10)), viewer])
    assert producer.closed and viewer.closed
    assert not list(tmp_path.iterdir())                             # no output, no temporary left

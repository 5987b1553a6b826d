"""`webcam`: a camera (or a file played as one) through the stylizers, in the live loop."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylestream.errors import UserError
from stylestream.jobs.live import LiveFrame, LiveStylizer, Recording, Window, run_live
from stylestream.sinks import DEFAULT_PRESET, check_writable, refuse_overwriting_inputs
from stylestream.sources import CameraSource
from stylestream.stylizer import Stylizer
from stylestream.temporal import DEFAULT_STRENGTH

NEXT_STYLE, PREVIOUS_STYLE, TOGGLE_TEMPORAL = ord("n"), ord("p"), ord("t")
FPS_WINDOW_SECONDS = 2.0       # the overlay's FPS counts the frames of this last stretch


class CameraFrames:
    """The live loop's producer: the camera's newest frame, stylized by the current style.
    While paused the camera is still read (its frames are dropped) and the last output stays."""

    def __init__(self, source: CameraSource, stylizers: list[Stylizer], temporal_strength: float | None):
        self.source, self.stylizers, self.current = source, stylizers, 0
        # `t` can turn consistency on even when it started off, so the temporal method always exists.
        temporal = stylizers[0].temporal(DEFAULT_STRENGTH if temporal_strength is None else temporal_strength)
        self.flow_pool = ThreadPoolExecutor(1, thread_name_prefix="flow")
        self.stylize = LiveStylizer(stylizers[0], temporal, temporal_strength is not None, self.flow_pool)
        self.last_out: np.ndarray | None = None
        self.latencies: list[float] = []
        self.shown_at: list[float] = []
        self.start = time.perf_counter()

    def next(self, paused: bool) -> LiveFrame | None:
        got = self.source.read()
        if got is None:
            return None
        _, captured_at, frame = got
        fresh = not paused or self.last_out is None
        if fresh:
            self.last_out = self.stylize(frame)
            self.latencies.append(time.perf_counter() - captured_at)  # capture → stylized frame
        now = time.perf_counter()
        self.shown_at = [t for t in self.shown_at if now - t < FPS_WINDOW_SECONDS] + [now]
        # Wall-clock timestamps: the recording plays back at the pace it was seen.
        return LiveFrame(self.last_out, fresh=fresh, pts_ms=int((captured_at - self.start) * 1000))

    def overlay(self, paused: bool) -> list[str]:
        t = self.shown_at
        fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0
        return [f"{fps:5.1f} FPS  {self.stylize.stylizer.engine.name}" + ("  [paused]" if paused else "")
                + ("  [temporal]" if self.stylize.enabled else ""), f"dropped {self.source.dropped}"]

    def key(self, key: int) -> None:
        if key in (NEXT_STYLE, PREVIOUS_STYLE):
            self.current = (self.current + (1 if key == NEXT_STYLE else -1)) % len(self.stylizers)
            self.stylize.stylizer = self.stylizers[self.current]
        elif key == TOGGLE_TEMPORAL:
            self.stylize.enabled = not self.stylize.enabled
        # A new style, a paused or resumed camera or a toggle: the history no longer applies.
        self.stylize.reset()

    def close(self) -> None:
        # The camera thread and a flow still running end before anything they use is freed
        # (a capture released under a reading thread crashes the process).
        self.source.close()
        self.flow_pool.shutdown(wait=True, cancel_futures=True)


def run_camera(camera: str, stylizers: list[Stylizer], record: str | None = None, window: bool = True,
               capture_width: int | None = None, crf: int = 18, preset: str = DEFAULT_PRESET,
               max_seconds: float | None = None,
               temporal_strength: float | None = DEFAULT_STRENGTH) -> dict:
    """The camera's stylized frames to a window and/or a file. A source that fails mid-stream
    ends the run with a UserError once the recording is closed, playable, with what it had."""
    if record:
        refuse_overwriting_inputs(record, [camera, *(s.engine.path for s in stylizers)])
        check_writable(Path(record))
    view = Window() if window else None
    try:
        source = CameraSource(camera, width=capture_width)
        frames = CameraFrames(source, stylizers, temporal_strength)
    except BaseException:
        if view is not None:
            view.close()
        raise
    recording = Recording(record, Fraction(round(source.fps * 1000), 1000), crf, preset) if record else None
    run = run_live(frames, [o for o in (recording, view) if o is not None], max_seconds=max_seconds)
    if source.lost:
        kept = f"; the recording keeps its {recording.frames} frames: {recording.written}" \
            if recording and recording.written else ""
        raise UserError(f"{source.lost}{kept}")
    return {"camera": str(camera), "frames": run.frames, "captured": source.captured, "dropped": source.dropped,
            "seconds": round(run.seconds, 3), "fps": round(run.frames / run.seconds, 2) if run.seconds else 0.0,
            "record": str(recording.written) if recording and recording.written else None,
            "recorded_frames": recording.frames if recording else 0,
            "interrupted": run.interrupted, "snapshots": run.snapshots, "temporal": frames.stylize.enabled,
            **_latency_summary(frames.latencies, source.fps)}


def _latency_summary(latencies: list[float], fps: float) -> dict:
    """Capture-to-output latency, in milliseconds and in frames of the camera's rate."""
    if not latencies:
        return {}
    ms = np.sort(np.array(latencies)) * 1000
    p95 = float(ms[min(len(ms) - 1, int(0.95 * len(ms)))])
    return {"latency_ms": {"median": round(float(np.median(ms)), 2), "p95": round(p95, 2)},
            "latency_frames_p95": round(p95 / 1000 * fps, 2)}

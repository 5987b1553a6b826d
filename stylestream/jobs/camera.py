"""`webcam`: a camera (or a file played as one) through the stylizers, in the live loop.

The settings a viewer may change while it plays (style, strength, preserve colour,
temporal consistency) live in LiveControls: any thread (a key, the served page) changes
them, and the loop applies them between frames, with the engines of every style opened so
far kept open."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylestream.errors import UserError
from stylestream.jobs.live import PAUSE_KEY, LiveFrame, LiveOutput, LiveStylizer, Recording, Window, run_live
from stylestream.regions import Regions
from stylestream.sinks import DEFAULT_PRESET, check_writable, refuse_overwriting_inputs
from stylestream.jobs.stream_out import StreamOutput, is_stream_url
from stylestream.jobs.virtual_camera import VirtualCamera
from stylestream.sources import CameraAudio, CameraSource
from stylestream.stylizer import Stylizer
from stylestream.temporal import DEFAULT_STRENGTH

NEXT_STYLE, PREVIOUS_STYLE, TOGGLE_TEMPORAL = ord("n"), ord("p"), ord("t")
FPS_WINDOW_SECONDS = 2.0       # the overlay's FPS counts the frames of this last stretch


class StyleBank:
    """The styles a live job may switch to, by name, each opened at its first use and kept
    open: the styles given at the start (opened up front), then the zoo's. `add` is where
    another kind of style (a picture a viewer uploads) joins the list."""

    def __init__(self, given: dict[str, Stylizer], open_style: Callable[[str], Stylizer] | None = None,
                 more: list[str] = ()):
        self._opened = dict(given)
        self._openers: dict[str, Callable[[], Stylizer]] = {}
        self._lock = threading.Lock()
        for name in more:
            if name not in self._opened and open_style is not None:
                self.add(name, lambda name=name: open_style(name))

    @property
    def names(self) -> list[str]:
        with self._lock:
            return self._names()

    @property
    def opened(self) -> list[str]:
        with self._lock:
            return list(self._opened)

    def _names(self) -> list[str]:
        return [*self._opened, *(n for n in self._openers if n not in self._opened)]

    def add(self, name: str, opener: Callable[[], Stylizer]) -> None:
        with self._lock:
            self._openers[name] = opener

    def add_opened(self, wanted: str, stylizer: Stylizer) -> str:
        """Adds an opened style under `wanted`, or `wanted-2`, `-3`… when that name is taken; its name."""
        with self._lock:
            taken = set(self._names())
            name = wanted
            for n in range(2, len(taken) + 3):
                if name not in taken:
                    break
                name = f"{wanted}-{n}"
            self._opened[name] = stylizer
            return name

    def stylizer(self, name: str) -> Stylizer:
        """The style's stylizer, opened now if it is not yet (in the caller's thread: a viewer's
        request waits for it, the live loop does not)."""
        with self._lock:
            if name in self._opened:
                return self._opened[name]
            if name not in self._openers:
                raise UserError(f"unknown style {name!r}: one of {', '.join(self._names())}")
            self._opened[name] = self._openers[name]()
            return self._opened[name]


@dataclass(frozen=True)
class LiveSettings:
    style: str
    strength: float                # 0..1: the stylized frame blended with the source
    preserve_color: bool
    temporal: bool                 # temporal consistency on


class LiveControls:
    """The live settings, changed from any thread and read by the loop once per frame."""

    def __init__(self, styles: StyleBank, settings: LiveSettings):
        self.styles, self._settings, self._lock = styles, settings, threading.Lock()

    @property
    def settings(self) -> LiveSettings:
        with self._lock:
            return self._settings

    def change(self, **changes) -> LiveSettings:
        """Checks and applies changes (LiveSettings' fields); a bad one raises UserError and
        changes nothing. A new style's engine is opened before this returns."""
        unknown = set(changes) - set(LiveSettings.__dataclass_fields__)
        if unknown:
            raise UserError(f"unknown setting {sorted(unknown)[0]!r}: one of "
                            f"{', '.join(LiveSettings.__dataclass_fields__)}")
        if "strength" in changes:
            strength = changes["strength"]
            if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
                raise UserError(f"strength must be a number between 0 and 1, not {strength!r}")
            changes["strength"] = float(strength)
        for flag in ("preserve_color", "temporal"):
            if flag in changes and not isinstance(changes[flag], bool):
                raise UserError(f"{flag} must be true or false, not {changes[flag]!r}")
        if "style" in changes:
            if not isinstance(changes["style"], str):
                raise UserError(f"style must be a name, not {changes['style']!r}")
            self.styles.stylizer(changes["style"])
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return self._settings


class CameraFrames:
    """The live loop's producer: the camera's newest frame, stylized with the current
    settings. While paused the camera is still read (its frames are dropped) and the last
    output stays."""

    def __init__(self, source: CameraSource, controls: LiveControls, temporal_strength: float,
                 regions: Regions | None = None):
        self.source, self.controls = source, controls
        settings = controls.settings
        first = controls.styles.stylizer(settings.style)
        # Consistency can be turned on even when it started off, so the temporal method always exists.
        temporal = first.temporal(temporal_strength)
        self.flow_pool = ThreadPoolExecutor(1, thread_name_prefix="flow")
        if regions is not None:
            regions.start(temporal_strength)
        self.stylize = LiveStylizer(first, temporal, settings.temporal, self.flow_pool, regions)
        self.applied = settings
        self.last_out: np.ndarray | None = None
        self.made = 0
        self.latencies: list[float] = []
        self.shown_at: list[float] = []
        self.start = time.perf_counter()

    def _apply(self, settings: LiveSettings) -> None:
        """The settings for the next frame. The history holds stylized, unblended frames, so
        it still applies under another strength or colour; not to another style, nor after
        a stretch without consistency."""
        stylizer = self.controls.styles.stylizer(settings.style)
        stylizer.strength, stylizer.keep_color = settings.strength, settings.preserve_color
        if settings.style != self.applied.style or (settings.temporal and not self.applied.temporal):
            self.stylize.reset()
        self.stylize.stylizer, self.stylize.enabled = stylizer, settings.temporal
        self.applied = settings

    def next(self, paused: bool) -> LiveFrame | None:
        got = self.source.read()
        if got is None:
            return None
        _, captured_at, frame = got
        fresh = not paused or self.last_out is None
        if fresh:
            settings = self.controls.settings
            if settings != self.applied or self.made == 0:
                self._apply(settings)
            self.last_out = self.stylize(frame)
            self.made += 1
            self.latencies.append(time.perf_counter() - captured_at)  # capture → stylized frame
        now = time.perf_counter()
        self.shown_at = [t for t in self.shown_at if now - t < FPS_WINDOW_SECONDS] + [now]
        # Wall-clock timestamps: the recording plays back at the pace it was seen.
        return LiveFrame(self.last_out, fresh=fresh, pts_ms=int((captured_at - self.start) * 1000),
                         captured_at=captured_at)

    @property
    def fps(self) -> float:
        t = self.shown_at
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0

    def overlay(self, paused: bool) -> list[str]:
        return [f"{self.fps:5.1f} FPS  {self.stylize.stylizer.engine.name}" + ("  [paused]" if paused else "")
                + ("  [temporal]" if self.stylize.enabled else ""), f"dropped {self.source.dropped}"]

    def key(self, key: int) -> None:
        settings = self.controls.settings
        if key in (NEXT_STYLE, PREVIOUS_STYLE):
            # n/p step through the styles opened so far (those given at the start, at first).
            names = self.controls.styles.opened
            at = names.index(settings.style) if settings.style in names else 0
            self.controls.change(style=names[(at + (1 if key == NEXT_STYLE else -1)) % len(names)])
        elif key == TOGGLE_TEMPORAL:
            self.controls.change(temporal=not settings.temporal)
        elif key == PAUSE_KEY:      # a paused or resumed camera: the history no longer applies
            self.stylize.reset()

    def summary(self) -> dict:
        """The job's figures so far."""
        seconds = time.perf_counter() - self.start
        return {"camera": str(self.source.spec), "frames": self.made, "captured": self.source.captured,
                "dropped": self.source.dropped, "seconds": round(seconds, 3),
                "fps": round(self.made / seconds, 2) if seconds else 0.0, "style": self.applied.style,
                "temporal": self.stylize.enabled, **_latency_summary(self.latencies, self.source.fps),
                **({"regions": self.stylize.regions.describe()} if self.stylize.regions is not None else {})}

    def close(self) -> None:
        # The camera thread and a flow still running end before anything they use is freed
        # (a capture released under a reading thread crashes the process).
        self.source.close()
        self.flow_pool.shutdown(wait=True, cancel_futures=True)


def run_camera(camera: str, controls: LiveControls, record: str | None = None, window: bool = True,
               capture_width: int | None = None, crf: int = 18, preset: str = DEFAULT_PRESET,
               max_seconds: float | None = None, temporal_strength: float = DEFAULT_STRENGTH,
               loop: bool = False, serve: Callable[[LiveControls, Callable[[], dict]], LiveOutput] | None = None,
               virtual_camera: bool = False, regions: Regions | None = None) -> dict:
    """The camera's stylized frames to a window, a file or a stream server (`record` an
    rtmp://, srt:// or udp:// URL), a virtual camera and/or a served page (`serve` makes
    that output from the controls and the summary so far). A source that fails mid-stream
    ends the run with a UserError once the recording is closed, playable, with what it had.
    `regions`: the style on the person or the background only, or a second style outside."""
    streaming = record is not None and is_stream_url(record)
    if record and not streaming:
        styles = controls.styles
        refuse_overwriting_inputs(record, [camera, *(styles.stylizer(n).engine.path for n in styles.opened)])
        check_writable(Path(record))
    outputs: list[LiveOutput] = []
    source = frames = None
    try:
        if window:
            outputs.append(Window())
        source = CameraSource(camera, width=capture_width, loop=loop)
        frames = CameraFrames(source, controls, temporal_strength, regions)
        served = serve(controls, lambda: {**frames.summary(), "camera_fps": source.fps}) if serve else None
    except BaseException:
        for output in outputs:
            output.close()
        if frames is not None:
            frames.close()
        elif source is not None:
            source.close()
        raise
    rate = Fraction(round(source.fps * 1000), 1000)
    recording = Recording(record, rate, crf, preset) if record and not streaming else None
    stream = StreamOutput(record, rate, crf, preset, audio=CameraAudio.open(camera, frames.start, loop)) \
        if streaming else None
    camera_out = VirtualCamera(rate) if virtual_camera else None
    outputs += [o for o in (recording, stream, camera_out, served) if o is not None]
    run = run_live(frames, outputs, max_seconds=max_seconds)
    if source.lost:
        kept = f"; the recording keeps its {recording.frames} frames: {recording.written}" \
            if recording and recording.written else ""
        raise UserError(f"{source.lost}{kept}")
    summary = frames.summary()
    summary.update(seconds=round(run.seconds, 3), fps=round(run.frames / run.seconds, 2) if run.seconds else 0.0,
                   record=str(recording.written) if recording and recording.written else None,
                   recorded_frames=recording.frames if recording else 0, interrupted=run.interrupted,
                   snapshots=run.snapshots)
    if served is not None:
        summary["serve"] = served.stats()
    if stream is not None:
        summary.update(record=stream.summary()["url"], recorded_frames=stream.stats.sent, stream=stream.summary())
    if camera_out is not None:
        summary["virtual_camera"] = camera_out.summary()
    return summary


def _latency_summary(latencies: list[float], fps: float) -> dict:
    """Capture-to-output latency, in milliseconds and in frames of the camera's rate."""
    if not latencies:
        return {}
    ms = np.sort(np.array(latencies)) * 1000
    p95 = float(ms[min(len(ms) - 1, int(0.95 * len(ms)))])
    return {"latency_ms": {"median": round(float(np.median(ms)), 2), "p95": round(p95, 2)},
            "latency_frames_p95": round(p95 / 1000 * fps, 2)}

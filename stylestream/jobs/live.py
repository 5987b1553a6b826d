"""Live frames: the interactive loop that `webcam` and `dream` share, and a stylizer that
takes a stream of frames one at a time.

`run_live` hands the frames of a producer to live outputs (a window, a recording) until
quit, a signal, a frame or time limit, or the end of the producer. The loop owns the keys
every live job has (q/Esc quit, space pause, s snapshot) and the clean stop on
SIGINT/SIGTERM; the producer makes the frames and gets every other key (the camera's n/p/t).
An output is anything with write/key/close/abort, so another live output is one more entry
in the list.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from stylestream.imagefile import write_snapshot
from stylestream.jobs.progress import signal_name, stop_on_signals
from stylestream.regions import Regions
from stylestream.sinks import DEFAULT_PRESET, MILLISECOND, VideoFileSink, WindowSink
from stylestream.stylizer import Stylizer
from stylestream.temporal import Temporal

QUIT_KEYS = (ord("q"), 27)     # q, Esc
PAUSE_KEY = ord(" ")
SNAPSHOT_KEY = ord("s")
NO_KEY = -1


@dataclass
class LiveFrame:
    image: np.ndarray              # H×W×3 uint8 RGB
    fresh: bool = True             # newly made, not the paused picture again (counts toward limits)
    record: bool = True            # goes to recordings
    pts_ms: int | None = None      # wall-clock timestamp; None: recordings count frames at their rate
    captured_at: float | None = None  # time.perf_counter() when its source was captured; None: not captured


class Producer(Protocol):
    def next(self, paused: bool) -> LiveFrame | None:
        """The next frame to show (None: the producer has ended)."""

    def overlay(self, paused: bool) -> list[str]:
        """Lines drawn over the frame in interactive outputs."""

    def key(self, key: int) -> None:
        """A key the loop does not act on alone (space arrives after the pause has toggled)."""

    def close(self) -> None:
        """Frees what the producer reads from; called once the loop ends, however it ends."""


class LiveOutput(Protocol):
    interactive: bool              # shows frames to someone who can press keys

    def write(self, frame: LiveFrame, overlay: list[str]) -> None: ...

    def key(self, wait_ms: int) -> int:
        """The key pressed within `wait_ms`, or NO_KEY."""

    def close(self) -> None:
        """Finishes the output after a complete run."""

    def abort(self) -> None:
        """Frees the output after a failure."""


class Window:
    """An OpenCV window; a picture smaller than `min_side` is shown scaled up to it."""
    interactive = True

    def __init__(self, title: str = "stylestream", min_side: int = 0):
        self.sink, self.min_side = WindowSink(title), min_side

    def write(self, frame: LiveFrame, overlay: list[str]) -> None:
        image = frame.image
        h, w = image.shape[:2]
        if min(h, w) < self.min_side:
            import cv2

            scale = self.min_side / min(h, w)
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        self.sink.show(image, overlay)

    def key(self, wait_ms: int) -> int:
        return self.sink.key(wait_ms)

    def close(self) -> None:
        self.sink.close()

    abort = close


class Recording:
    """An H.264 file, opened at the first recorded frame (its size). Frames with a timestamp
    play back at the pace they were seen; frames without one are counted at `rate`."""
    interactive = False

    def __init__(self, path: str | Path, rate: Fraction, crf: int = 18, preset: str = DEFAULT_PRESET):
        self.path, self.rate, self.crf, self.preset = Path(path), rate, crf, preset
        self.sink: VideoFileSink | None = None

    @property
    def frames(self) -> int:
        return self.sink.frames if self.sink else 0

    @property
    def written(self) -> Path | None:
        return self.sink.path if self.sink else None

    def write(self, frame: LiveFrame, overlay: list[str]) -> None:
        if not frame.record:
            return
        if self.sink is None:
            h, w = frame.image.shape[:2]
            time_base = 1 / self.rate if frame.pts_ms is None else MILLISECOND
            self.sink = VideoFileSink(self.path, w, h, self.rate, time_base, crf=self.crf, preset=self.preset)
        if frame.pts_ms is None:
            self.sink.write(frame.image)
        else:
            self.sink.write(frame.image, frame.pts_ms, MILLISECOND)

    def key(self, wait_ms: int) -> int:
        return NO_KEY

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.abort()


@dataclass
class LiveRun:
    frames: int                    # fresh frames made
    seconds: float
    snapshots: int
    signal: str | None             # the signal that stopped the run, if one did

    @property
    def interrupted(self) -> bool:
        return self.signal is not None


def run_live(producer: Producer, outputs: list[LiveOutput], *, max_frames: int | None = None,
             max_seconds: float | None = None, pace_fps: float | None = None,
             snapshot_prefix: str = "stylestream") -> LiveRun:
    """`pace_fps`: interactive outputs show at most this many frames a second, so what they
    show moves at the same speed on any machine; outputs that are not interactive never wait.
    The outputs are closed inside the signal handler's reach, so a second Ctrl-C during the
    final flush is absorbed rather than losing the recording."""
    interactive = [o for o in outputs if o.interactive]
    stop = threading.Event()
    made = snapshots = 0
    paused = False
    closed: list[LiveOutput] = []
    try:
        with stop_on_signals(stop) as caught:
            start = next_show = time.perf_counter()
            try:
                while not stop.is_set():
                    if (max_frames is not None and made >= max_frames) or \
                            (max_seconds and time.perf_counter() - start >= max_seconds):
                        break
                    frame = producer.next(paused)
                    if frame is None:
                        break
                    made += frame.fresh
                    overlay = producer.overlay(paused) if interactive else []
                    for output in outputs:
                        output.write(frame, overlay)
                    if not interactive:
                        continue
                    wait_ms = 1
                    if pace_fps:
                        next_show += 1 / pace_fps
                        wait_ms = max(1, int((next_show - time.perf_counter()) * 1000))
                    key = next((k for k in (o.key(wait_ms) for o in interactive) if k != NO_KEY), NO_KEY)
                    if pace_fps:
                        next_show = max(next_show, time.perf_counter())  # behind: do not rush to catch up
                    if key in QUIT_KEYS:
                        break
                    if key == SNAPSHOT_KEY:
                        snapshots += 1
                        write_snapshot(frame.image, snapshots, snapshot_prefix)
                    elif key != NO_KEY:
                        if key == PAUSE_KEY:
                            paused = not paused
                        producer.key(key)
            finally:
                producer.close()
            for output in outputs:
                output.close()
                closed.append(output)
    except BaseException:
        for output in outputs:
            if output not in closed:
                output.abort()
        raise
    return LiveRun(made, time.perf_counter() - start, snapshots, signal_name(caught))


class LiveStylizer:
    """Frames of one stream stylized one at a time, each blended with the previous output
    where the optical flow is reliable (temporal consistency), through the stylizer's stages:
    flow (in `flow_pool`, beside inference, where the temporal method allows it), infer,
    blend, deliver; with `regions`, the person mask (in `flow_pool` too) and the composition.
    `enabled` turns consistency off and on (of the masks too); `reset()` starts a new history
    (a cut, another style)."""

    def __init__(self, stylizer: Stylizer, temporal: Temporal, enabled: bool = True, flow_pool=None,
                 regions: Regions | None = None):
        self.stylizer, self.temporal, self.enabled, self.flow_pool = stylizer, temporal, enabled, flow_pool
        self.regions = regions

    def reset(self) -> None:
        self.temporal.reset()
        if self.regions is not None:
            self.regions.reset()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        stylizer, temporal, regions = self.stylizer, self.temporal, self.regions
        source = stylizer.prepare(frame)
        concurrent = temporal.concurrent and self.flow_pool is not None
        motion = None
        if self.enabled:
            motion = self.flow_pool.submit(temporal.estimate, source) if concurrent else temporal.estimate(source)
        # The person mask, like the flow, is made beside inference where a pool is given.
        mask = None
        if regions is not None:
            mask = self.flow_pool.submit(regions.segment, frame) if self.flow_pool is not None \
                else regions.segment(frame)
        styled = stylizer.infer(source)
        if self.enabled:
            motion = motion.result() if concurrent else motion
            styled = temporal.blend(styled, motion)
        out = stylizer.deliver(styled, frame)
        if regions is None:
            return out
        return regions.finish(out, frame, mask.result() if self.flow_pool is not None else mask, motion)

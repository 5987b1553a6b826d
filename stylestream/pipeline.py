"""The video job. Each frame goes one way through five stages:

    decode → flow → infer → blend → encode

decode: the source's next frame (VideoFileSource). flow: the temporal method's `estimate` on
the source frame. infer: the stylizer's `infer`. blend: the temporal method's `blend` on the
stylization, in frame order, then the stylizer's `deliver` (scale, --strength, colour).
encode: the sink.

Decoding and encoding (PyAV, which releases the GIL) overlap inference (ONNX Runtime or
PyTorch, which do too), each in its own thread; a temporal method that may (`concurrent`: the
CPU's) estimates in the decode thread, beside inference. Bounded queues between the threads
keep memory flat: a fast decoder waits for the engine instead of filling RAM. Where the engine
can take several frames at once (ONNX Runtime on the CPU), the infer stage runs that many
frames ahead in a small pool, and the blend stage takes them strictly in order.

With regions (regions.py) the person mask is segmented in the decode thread too, a background
style is inferred beside the main one, and the blend stage ends by composing the two parts.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from stylestream.regions import Regions
from stylestream.schedule import StyleSchedule
from stylestream.sinks import VideoFileSink
from stylestream.sources import AudioItem, VideoFileSource, VideoItem
from stylestream.stylizer import Stylizer
from stylestream.temporal import Motion, Temporal

_END = object()


class Stage:
    """Runs `produce()` — an iterable — in a thread, handing items over a bounded queue.

    Iterating a Stage yields those items; an exception in the thread is re-raised in the
    consumer. If the consumer stops early, the producer is released rather than left
    blocked on a full queue.
    """

    def __init__(self, produce: Callable[[], Iterable], maxsize: int, name: str):
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._abandoned:
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, produce) -> None:
        items = produce()
        try:
            for item in items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer
            self._error = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:     # a generator's own cleanup runs in its thread, now
                close()
        self._put(_END)

    def close(self) -> None:
        """Releases the producer and waits for its thread: whatever it uses (a decoder, an
        engine) must not be freed while the thread is still inside it."""
        self._abandoned = True
        self._thread.join()

    def __iter__(self) -> Iterator:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    self._thread.join()
                    if self._error is not None:
                        raise self._error
                    return
                yield item
        finally:
            self._abandoned = True


@dataclass
class InFlight:
    """A video frame between decode and encode, with what its stages have made of it so far."""
    item: VideoItem
    motion: Motion | None = None                    # flow, when it ran in the decode thread
    styled: Future[np.ndarray] | None = None        # infer, when it ran ahead in the pool
    mask: np.ndarray | None = None                  # the person mask, segmented in the decode thread
    background: Future[np.ndarray] | None = None    # the background style's infer, ahead in the pool


@dataclass
class VideoJob:
    source: VideoFileSource
    sink: VideoFileSink
    stylizer: Stylizer
    temporal: Temporal | None = None        # flow and blend stages; None: each frame on its own
    frames_at_once: int = 1                 # how many frames the infer stage may work on at once
    regions: Regions | None = None          # a style on part of the frame (regions.py); None: all of it
    schedule: StyleSchedule | None = None   # styles by time (schedule.py); None: `stylizer` throughout
    stop: threading.Event = field(default_factory=threading.Event)
    on_frame: Callable[[int], None] | None = None
    queue_size: int = 8
    infer_seconds: float = 0.0
    flow_seconds: float = 0.0
    frames: int = 0

    @property
    def flow_beside_inference(self) -> bool:
        return self.temporal is not None and self.temporal.concurrent

    def run(self) -> bool:
        """Runs to the end or until `stop` is set; returns True when it was stopped early."""
        decoded = Stage(self._decode, self.queue_size, "decode")
        stylized = Stage(lambda: self._stylize(decoded), self.queue_size, "infer")
        try:
            for item in stylized:
                if isinstance(item, AudioItem):
                    self.sink.write_audio(item.packet)
                else:
                    frame, image = item
                    self.sink.write(image, frame.pts, frame.time_base)
                    self.frames += 1
                    if self.on_frame:
                        self.on_frame(self.frames)
            return self.stop.is_set()
        except BaseException:
            self.stop.set()
            raise
        finally:
            # Both threads end before the caller closes the source or the engine: a decode
            # thread left inside a closed container, or an inference left running while the
            # interpreter exits, crash the process (SIGSEGV, or C++'s terminate()).
            stylized.close()
            decoded.close()

    def _decode(self):
        """decode, and flow when the temporal method runs beside inference."""
        for item in self.source.items():
            if self.stop.is_set():
                return
            if not isinstance(item, VideoItem):
                yield item
                continue
            frame = InFlight(item)
            if self.flow_beside_inference:
                t0 = time.perf_counter()
                frame.motion = self.temporal.estimate(self.stylizer.prepare(item.image))
                self.flow_seconds += time.perf_counter() - t0
            if self.regions is not None:
                # The mask net (one CPU thread) runs here, beside inference, on any device.
                frame.mask = self.regions.segment(item.image)
            yield frame

    def _stylize(self, items: Iterable):
        """infer (ahead, in a pool, where the engine takes several frames at once), then blend in
        frame order. Stopping drops frames decoded but not yet stylized; every stylized one is
        written."""
        ahead = self.frames_at_once if self.frames_at_once > 1 else 0
        pool = ThreadPoolExecutor(ahead, thread_name_prefix="engine") if ahead else None
        pending: deque = deque()      # items in arrival order, frames with inference under way
        try:
            for item in items:
                if self.stop.is_set():
                    return
                if pool is not None and isinstance(item, InFlight) and self.schedule is not None:
                    item.styled = pool.submit(self.schedule.infer, item.item)
                elif pool is not None and isinstance(item, InFlight):
                    item.styled = pool.submit(lambda image: self.stylizer.infer(self.stylizer.prepare(image)),
                                              item.item.image)
                    background = self.regions.background if self.regions is not None else None
                    if background is not None:
                        item.background = pool.submit(lambda image, b=background: b.infer(b.prepare(image)),
                                                      item.item.image)
                pending.append(item)
                while pending and sum(isinstance(i, InFlight) for i in pending) > max(ahead - 1, 0):
                    yield self._finish(pending.popleft())
            while pending and not self.stop.is_set():
                yield self._finish(pending.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, frame):
        if not isinstance(frame, InFlight):
            return frame
        t0 = time.perf_counter()
        image = self._stylized(frame)
        self.infer_seconds += time.perf_counter() - t0
        return frame.item, image

    def _stylized(self, frame: InFlight) -> np.ndarray:
        """One frame's stages after decode, those not already run: flow (on the device),
        infer, blend, then the stylizer's deliver. The sink scales the frame to the output size
        while converting it to YUV anyway."""
        stylizer, temporal, image = self.stylizer, self.temporal, frame.item.image
        source = None
        if temporal is not None and frame.motion is None:
            source = stylizer.prepare(image)
            frame.motion = temporal.estimate(source)
        if self.schedule is not None:
            # Each style of the frame blends with its own history and delivers; then they are mixed.
            parts = frame.styled.result() if frame.styled is not None else self.schedule.infer(frame.item, source)
            return self.schedule.finish(frame.item, parts, frame.motion)
        if frame.styled is not None:
            styled = frame.styled.result()
        else:
            styled = stylizer.infer(stylizer.prepare(image) if source is None else source)
        if temporal is not None:
            styled = temporal.blend(styled, frame.motion)
        if self.regions is not None:
            # Composed at the output size: both parts scaled to it first.
            return self.regions.finish(stylizer.deliver(styled, image), image, frame.mask, frame.motion,
                                       frame.background.result() if frame.background is not None else None)
        return stylizer.deliver(styled, image, scale_back=False)

    def stage_fps(self) -> dict[str, float]:
        def fps(seconds: float) -> float:
            return round(self.frames / seconds, 2) if seconds > 0 else 0.0
        stages = {"decode": fps(self.source.decode_seconds), "infer": fps(self.infer_seconds),
                  "encode": fps(self.sink.encode_seconds)}
        if self.flow_beside_inference:
            stages["flow"] = fps(self.flow_seconds)
        return stages

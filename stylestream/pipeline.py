"""The video job: source → stylizer → sink, each stage in its own thread.

Decoding and encoding (PyAV, which releases the GIL) overlap inference (ONNX Runtime or
PyTorch, which do too). Bounded queues between the stages keep memory flat: a fast
decoder waits for the engine instead of filling RAM. Where the engine can take several
frames at once (ONNX Runtime on the CPU), the infer stage runs that many frames ahead in a
small pool, and finishes them (temporal blend, resize) strictly in order.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from stylestream.sinks import VideoFileSink
from stylestream.sources import AudioItem, VideoFileSource, VideoItem

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
class VideoJob:
    source: VideoFileSource
    sink: VideoFileSink
    process: Callable                       # VideoItem → stylized image, in frame order
    motion: Callable | None = None          # image → temporal.Motion, run in the decode thread
    infer: Callable | None = None           # image → engine output, run ahead into item.styled
    frames_at_once: int = 1                 # how many `infer` calls may run at once
    stop: threading.Event = field(default_factory=threading.Event)
    on_frame: Callable[[int], None] | None = None
    queue_size: int = 8
    infer_seconds: float = 0.0
    flow_seconds: float = 0.0
    frames: int = 0

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
        # Optical flow needs only input frames: computing it here overlaps it with inference.
        for item in self.source.items():
            if self.stop.is_set():
                return
            if self.motion is not None and isinstance(item, VideoItem):
                t0 = time.perf_counter()
                item.motion = self.motion(item.image)
                self.flow_seconds += time.perf_counter() - t0
            yield item

    def _stylize(self, items: Iterable):
        # Stopping drops frames decoded but not yet stylized; every stylized one is written.
        ahead = self.frames_at_once if self.infer is not None else 0
        pool = ThreadPoolExecutor(ahead, thread_name_prefix="engine") if ahead else None
        pending: deque = deque()      # items in arrival order, video ones with inference under way
        try:
            for item in items:
                if self.stop.is_set():
                    return
                if pool is not None and isinstance(item, VideoItem):
                    item.styled = pool.submit(self.infer, item.image)
                pending.append(item)
                while pending and sum(isinstance(i, VideoItem) for i in pending) > max(ahead - 1, 0):
                    yield self._finish(pending.popleft())
            while pending and not self.stop.is_set():
                yield self._finish(pending.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, item):
        if not isinstance(item, VideoItem):
            return item
        t0 = time.perf_counter()
        image = self.process(item)
        self.infer_seconds += time.perf_counter() - t0
        return item, image

    def stage_fps(self) -> dict[str, float]:
        def fps(seconds: float) -> float:
            return round(self.frames / seconds, 2) if seconds > 0 else 0.0
        stages = {"decode": fps(self.source.decode_seconds), "infer": fps(self.infer_seconds),
                  "encode": fps(self.sink.encode_seconds)}
        if self.motion is not None:
            stages["flow"] = fps(self.flow_seconds)
        return stages

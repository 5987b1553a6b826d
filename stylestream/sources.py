"""Frame sources: video files and streams through PyAV, live cameras through OpenCV.

A video file yields, in container order, decoded video frames (`VideoItem`) and the
untouched packets of its audio streams (`AudioItem`), so a sink can copy the audio
without re-encoding and keep it interleaved with the video.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylestream.errors import UserError


NOT_VIDEO_FORMATS = {"tty", "image2", "lavfi", "webp", "gif_pipe"}


@dataclass
class VideoItem:
    index: int
    image: np.ndarray            # H×W×3 uint8 RGB, upright
    pts: int | None
    time_base: Fraction | None


@dataclass
class AudioItem:
    packet: object               # av.Packet of one of the source's audio streams


def _av_error(path, exc) -> UserError:
    text = (getattr(exc, "strerror", None) or str(exc)).strip()
    msg = text.splitlines()[0] if text else exc.__class__.__name__
    return UserError(f"{path}: cannot read video ({msg})")


class VideoFileSource:
    """A video file or stream URL opened with PyAV."""

    def __init__(self, path: str | Path):
        import av

        self.path = str(path)
        is_url = "://" in self.path
        if not is_url:
            p = Path(self.path)
            if not p.exists():
                raise UserError(f"input not found: {p}")
            if p.is_dir():
                raise UserError(f"{p}: is a folder, not a video")
            if p.stat().st_size == 0:
                raise UserError(f"{p}: empty file")
        try:
            self.container = av.open(self.path, "r", timeout=10 if is_url else None)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise _av_error(self.path, exc) from None
        fmt = self.container.format.name
        # FFmpeg will "play" text files (tty demuxer) and single images; neither is a video.
        if fmt in NOT_VIDEO_FORMATS or fmt.endswith("_pipe"):
            self.container.close()
            kind = "an image (use `stylestream image`)" if fmt != "tty" else "not a video"
            raise UserError(f"{self.path}: is {kind}")
        if not self.container.streams.video:
            self.container.close()
            raise UserError(f"{self.path}: has no video stream")
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio)
        cc = self.video.codec_context
        if not cc.width or not cc.height:
            self.container.close()
            raise UserError(f"{self.path}: video stream has no picture size (corrupt header?)")
        self.time_base = self.video.time_base
        self.rate = self.video.average_rate or self.video.guessed_rate or Fraction(25)
        self.declared_frames = self.video.frames or (
            int(self.video.duration * self.time_base * self.rate) if self.video.duration else 0)
        self.rotation = 0  # learnt from the first frame's display matrix
        self.decode_errors = 0
        self.frames_decoded = 0
        self.decode_seconds = 0.0
        self._first = self._peek_first_frame()

    def _peek_first_frame(self):
        """Decode one frame up front: it tells the true size and rotation, and an undecodable
        file fails here with a clear message instead of in the middle of a pipeline."""
        self._demux = self.container.demux(self.video, *self.audio)
        self._raw = self._items_raw()  # one generator: items() resumes exactly where the peek stopped
        self._pending: list = []
        for item in self._raw:
            self._pending.append(item)
            if isinstance(item, VideoItem):
                return item
        self.container.close()
        raise UserError(f"{self.path}: no decodable video frames")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright frames this source yields."""
        h, w = self._first.image.shape[:2]
        return w, h

    def _items_raw(self):
        import av

        index = 0
        while True:
            t0 = time.perf_counter()
            try:
                packet = next(self._demux)
            except StopIteration:
                return
            except av.error.FFmpegError:
                # A read error ends PyAV's demux generator: keep what was decoded and let the
                # job report the input as damaged.
                self.decode_errors += 1
                return
            if packet.stream.type == "audio":
                if packet.dts is not None and packet.size:
                    yield AudioItem(packet)
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:  # one undecodable packet: skip it, as ffmpeg does
                self.decode_errors += 1
                continue
            for frame in frames:
                if index == 0:
                    self.rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
                image = frame.to_ndarray(format="rgb24")
                if self.rotation:
                    # The display matrix rotates counter-clockwise by `rotation` degrees.
                    image = np.ascontiguousarray(np.rot90(image, k=self.rotation // 90))
                self.decode_seconds += time.perf_counter() - t0
                index += 1
                self.frames_decoded = index
                yield VideoItem(index - 1, image, frame.pts, frame.time_base or self.time_base)
                t0 = time.perf_counter()

    def items(self):
        """Generator of VideoItem and AudioItem in container order."""
        pending, self._pending = self._pending, []
        yield from pending
        yield from self._raw

    def close(self) -> None:
        self.container.close()


class CameraSource:
    """A live camera (index, /dev/videoN, URL) or a file played at its own frame rate.

    A grabber thread keeps only the newest frame: when stylizing is slower than the
    camera, stale frames are dropped (and counted) so latency never grows.

    A file ends at its end, or with `loop` starts again from its first frame (a stand-in
    camera that never ends); a camera or a stream has no end, so when one stops delivering
    (unplugged, connection lost, silent for `timeout` seconds) `read` returns None and
    `lost` says what happened.
    """

    def __init__(self, spec: str | int = 0, width: int | None = None, height: int | None = None,
                 loop: bool = False):
        import cv2

        self.spec = spec
        target = int(spec) if isinstance(spec, int) or str(spec).isdigit() else str(spec)
        self.is_file = isinstance(target, str) and "://" not in target and not target.startswith("/dev/")
        if (self.is_file or str(target).startswith("/dev/")) and not Path(target).exists():
            raise UserError(f"camera source not found: {target}")
        if loop and not self.is_file:
            raise UserError("--loop plays a video file as the camera again and again; a camera or stream has no end")
        self.loop = loop
        self.cap = cv2.VideoCapture(target)
        if not self.cap.isOpened():
            if isinstance(target, int):
                raise UserError(f"cannot open camera {target}: no camera answers at that index (is one plugged "
                                "in and free?); pick another with --camera N, /dev/videoN, a stream URL or a video file")
            raise UserError(f"cannot open camera {spec!r}: not a camera, stream or video OpenCV can read")
        if width:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        self.captured = 0
        self.dropped = 0
        self.ended = False
        self.lost: str | None = None
        self._latest: tuple[int, float, np.ndarray] | None = None
        self._taken_seq = -1
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab, name="camera", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        import cv2

        next_due = time.perf_counter()
        while not self._stop.is_set():
            ok, bgr = self.cap.read()
            if not ok and self.loop and self.captured:
                self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, bgr = self.cap.read()
            if not ok:
                if not self._stop.is_set() and (not self.is_file or self.captured == 0):
                    self.lost = (f"camera {self.spec!r} stopped delivering frames after {self.captured}"
                                 if self.captured else f"camera {self.spec!r} delivered no frames")
                break
            if self.is_file:  # play files in real time, like a camera would deliver them
                next_due += 1.0 / self.fps
                delay = next_due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            with self._cond:
                if self._latest is not None and self._latest[0] > self._taken_seq:
                    self.dropped += 1  # the previous frame was never consumed
                self._latest = (self.captured, time.perf_counter(), rgb)
                self.captured += 1
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def read(self, timeout: float = 5.0) -> tuple[int, float, np.ndarray] | None:
        """The newest frame not yet returned, as (sequence, capture time, image); None at the end."""
        with self._cond:
            deadline = time.perf_counter() + timeout
            while self._latest is None or self._latest[0] <= self._taken_seq:
                if self.ended:
                    return None
                left = deadline - time.perf_counter()
                if left <= 0:
                    self.lost = f"camera {self.spec!r} delivered no frame for {timeout:.0f} s"
                    return None
                self._cond.wait(left)
            self._taken_seq = self._latest[0]
            return self._latest

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if not self._thread.is_alive():     # never release the capture under a reading thread
            self.cap.release()


class CameraAudio:
    """The sound of a video file played as the camera, decoded in a thread and released in
    real time on the live loop's clock: a frame at file time t is ready at `start` + t and
    carries that time (in samples) as its timestamp. With `loop` it starts again at the end,
    as the camera's pictures do. `drain()` takes what is ready; what nobody takes for
    AUDIO_BACKLOG_SECONDS is dropped, so a consumer that is away never gets stale sound."""

    AUDIO_BACKLOG_SECONDS = 2.0

    def __init__(self, container, start: float, loop: bool = False):
        from collections import deque

        import av

        self.container, self.start, self.loop = container, start, loop
        stream = container.streams.audio[0]
        self.sample_rate = stream.codec_context.sample_rate
        self.layout = stream.codec_context.layout.name
        self._resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.sample_rate)
        backlog = int(self.AUDIO_BACKLOG_SECONDS * self.sample_rate / 512) + 1   # frames hold ≥ 512 samples
        self._ready: deque = deque(maxlen=backlog)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, name="camera-audio", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, spec: str, start: float, loop: bool = False) -> CameraAudio | None:
        """The sound of the camera `spec` when it is a video file with an audio stream; None otherwise."""
        import av

        path = Path(str(spec))
        if "://" in str(spec) or str(spec).startswith("/dev/") or str(spec).isdigit() or not path.is_file():
            return None
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError):
            return None
        if not container.streams.audio:
            container.close()
            return None
        return cls(container, start, loop)

    def _play(self) -> None:
        import av

        played = 0          # samples so far, over every pass: the sound is one continuous track
        while not self._stop.is_set():
            stream = self.container.streams.audio[0]
            try:
                for packet in self.container.demux(stream):
                    for decoded in packet.decode():
                        for frame in self._resampler.resample(decoded):
                            if self._stop.is_set():
                                return
                            pts, played = played, played + frame.samples
                            frame.pts, frame.time_base = pts, Fraction(1, self.sample_rate)
                            delay = self.start + pts / self.sample_rate - time.perf_counter()
                            if delay > 0 and self._stop.wait(delay):
                                return
                            with self._lock:
                                self._ready.append(frame)
            except av.error.FFmpegError:
                return      # damaged sound: the pictures go on without it
            if not self.loop:
                return
            self.container.seek(0, stream=stream)
            self._resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.sample_rate)

    def drain(self) -> list:
        with self._lock:
            ready = list(self._ready)
            self._ready.clear()
            return ready

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if not self._thread.is_alive():     # never close the container under the reading thread
            self.container.close()

"""Stream out: the live loop's frames to an RTMP, SRT or UDP server as H.264 (+ AAC when the
camera has sound), through PyAV/FFmpeg.

A sender thread owns the connection, so the camera loop never waits on the network: `write`
hands the newest frame over (one slot; a frame the sender has not taken yet is replaced and
counted), and while the server is unreachable frames are dropped and counted. A lost
connection is reopened in the background, first after RECONNECT_FIRST_SECONDS and then
twice as long each failed try, up to RECONNECT_MAX_SECONDS; every connection starts with a
keyframe, so a server that comes back shows pictures at once.

Known limit: PyAV keeps the GIL through a blocking RTMP handshake, so a server that accepts
the connection and never answers freezes the whole process (docs/live.md).
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from urllib.parse import urlsplit

import numpy as np

from stylestream.errors import UserError
from stylestream.jobs.live import MILLISECOND, NO_KEY, LiveFrame
from stylestream.sinks import DEFAULT_PRESET

# URL scheme → the container FFmpeg sends in: FLV is what RTMP carries; SRT and UDP carry MPEG-TS.
STREAM_FORMATS = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts"}
RECONNECT_FIRST_SECONDS, RECONNECT_MAX_SECONDS = 0.5, 8.0
# How long connecting, or one write, may take before the connection counts as lost.
NETWORK_TIMEOUT_SECONDS = 5.0
# A keyframe every second: a viewer who joins, or a server that comes back, waits at most this long.
KEYFRAME_SECONDS = 1.0


def is_stream_url(target: str) -> bool:
    return urlsplit(str(target)).scheme.lower() in STREAM_FORMATS and "://" in str(target)


def protocol_available(scheme: str) -> bool:
    """Whether this PyAV's FFmpeg was built with the protocol (SRT needs libsrt). Asked with
    port 0, which every protocol refuses before touching the network; UDP, part of FFmpeg's
    core network code, would bind and wait instead, so it is not asked."""
    import av

    if scheme == "udp":
        return True
    try:
        av.open(f"{scheme}://127.0.0.1:0", "r", timeout=1).close()
    except av.error.ProtocolNotFoundError:
        return False
    except (av.error.FFmpegError, OSError):
        pass
    return True


def shown_url(url: str) -> str:
    """The URL as printed: an RTMP URL's last path part is the stream key, a password."""
    parts = urlsplit(url)
    if parts.scheme.lower().startswith("rtmp") and parts.path.count("/") >= 2:
        return url[:url.rindex("/") + 1] + "…"
    return url.split("?")[0]


def check_stream_url(url: str) -> str:
    """The FFmpeg container for `url`; UserError for a scheme stylestream does not stream to or
    that this FFmpeg build lacks."""
    import av

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in STREAM_FORMATS:
        raise UserError(f"--record {url}: stream with {', '.join(s + '://' for s in STREAM_FORMATS)} "
                        "or give a file name")
    if not parts.hostname:
        raise UserError(f"--record {shown_url(url)}: no host in the URL")
    if not protocol_available(scheme):
        raise UserError(f"--record {shown_url(url)}: this PyAV {av.__version__} build's FFmpeg has no {scheme} "
                        "protocol (it needs libsrt); stream with rtmp:// or udp://, or install a PyAV built "
                        "with SRT")
    return STREAM_FORMATS[scheme]


@dataclass
class StreamStats:
    sent: int = 0                  # frames encoded and handed to the server
    dropped_offline: int = 0       # frames that came while no connection was open
    dropped_busy: int = 0          # frames replaced before the sender took them (encoder or network slower)
    audio_frames: int = 0
    connections: int = 0
    reconnect_seconds: list[float] = field(default_factory=list)   # connection lost → next one open


class _Connection:
    """One open connection: the container, an H.264 stream and an AAC stream when there is sound."""

    def __init__(self, url: str, fmt: str, width: int, height: int, rate: Fraction, crf: int, preset: str,
                 audio_layout: tuple[int, str] | None):
        import av

        options = {"flush_packets": "1"}          # each packet out at once, not when 32 KB have gathered
        if fmt == "flv":
            options["flvflags"] = "no_duration_filesize"   # a live stream has no end to seek back to
        self.container = av.open(url, "w", format=fmt, options=options, timeout=NETWORK_TIMEOUT_SECONDS)
        try:
            video = self.container.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.codec_context.time_base = video.time_base = MILLISECOND
            video.options = {"crf": str(crf), "preset": preset, "tune": "zerolatency",
                             "g": str(max(1, round(float(rate) * KEYFRAME_SECONDS))), "bf": "0"}
            self.video = video
            self.audio = None
            if audio_layout is not None:
                sample_rate, layout = audio_layout
                self.audio = self.container.add_stream("aac", rate=sample_rate)
                self.audio.layout = layout
            self.container.start_encoding()     # connects: a server that is down fails here
        except BaseException:
            self.close(flush=False)
            raise
        self.width, self.height = width, height
        self.last_pts = -1
        self.last_audio_pts = -1

    def write(self, image: np.ndarray, pts_ms: int) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:self.height, :self.width]), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        pts = max(pts_ms, self.last_pts + 1)
        frame.pts, frame.time_base = pts, MILLISECOND
        self.last_pts = pts
        self.container.mux(self.video.encode(frame))

    def write_audio(self, frame) -> None:
        if self.audio is None or frame.pts <= self.last_audio_pts:
            return
        self.last_audio_pts = frame.pts
        self.container.mux(self.audio.encode(frame))

    def close(self, flush: bool = True) -> None:
        import av

        try:
            if flush:
                self.container.mux(self.video.encode(None))
                if self.audio is not None:
                    self.container.mux(self.audio.encode(None))
        except (av.error.FFmpegError, OSError, ValueError):
            pass
        try:
            self.container.close()
        except (av.error.FFmpegError, OSError):
            pass


class StreamOutput:
    """A live output that streams to `url` (see the module's docstring). `rate`: the camera's
    frame rate (keyframe spacing); `audio`: the camera's sound
    (sources.CameraAudio) or None. Timestamps are the frames' wall-clock ones, and the sound's,
    on one clock."""
    interactive = False

    def __init__(self, url: str, rate: Fraction, crf: int = 23, preset: str = DEFAULT_PRESET, audio=None,
                 log=None):
        self.url, self.rate, self.crf, self.preset = url, Fraction(rate), crf, preset
        self.format = check_stream_url(url)
        self.audio = audio
        self.log = log if log is not None else (lambda line: print(f"stylestream: {line}", file=sys.stderr))
        self.stats = StreamStats()
        self._slot: tuple[np.ndarray, int] | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._connected = False
        self._size: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._first_ms: float | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    def write(self, frame: LiveFrame, overlay: list[str]) -> None:
        if not frame.record:
            return
        if self._thread is None:
            h, w = frame.image.shape[:2]
            if w < 2 or h < 2:
                raise UserError(f"video too small to stream: {w}×{h}")
            self._size = (w - w % 2, h - h % 2)         # yuv420p needs even sizes
            self._thread = threading.Thread(target=self._send, name="stream-out", daemon=True)
            self._thread.start()
        pts_ms = frame.pts_ms
        if pts_ms is None:       # no capture timestamp: the time since the first frame
            now = time.perf_counter() * 1000
            self._first_ms = now if self._first_ms is None else self._first_ms
            pts_ms = int(now - self._first_ms)
        with self._cond:
            if not self._connected:
                self.stats.dropped_offline += 1
                return
            if self._slot is not None:
                self.stats.dropped_busy += 1
            self._slot = (frame.image, pts_ms)
            self._cond.notify()

    def key(self, wait_ms: int) -> int:
        return NO_KEY

    def _take(self, timeout: float) -> tuple[np.ndarray, int] | None:
        with self._cond:
            if self._slot is None and not self._stop.is_set():
                self._cond.wait(timeout)
            taken, self._slot = self._slot, None
            return taken

    def _connect(self) -> _Connection:
        layout = None
        if self.audio is not None:
            layout = (self.audio.sample_rate, self.audio.layout)
        w, h = self._size
        return _Connection(self.url, self.format, w, h, self.rate, self.crf, self.preset, layout)

    def _send(self) -> None:
        import av

        wait = RECONNECT_FIRST_SECONDS
        lost_at: float | None = None
        while not self._stop.is_set():
            try:
                connection = self._connect()
            except (av.error.FFmpegError, OSError) as exc:
                if lost_at is None:
                    lost_at = time.perf_counter()
                    self.log(f"warning: cannot reach {shown_url(self.url)} ({_reason(exc)}); "
                             "retrying in the background")
                self._stop.wait(wait)
                wait = min(wait * 2, RECONNECT_MAX_SECONDS)
                continue
            self.stats.connections += 1
            if lost_at is not None and self.stats.connections > 1:
                seconds = time.perf_counter() - lost_at
                self.stats.reconnect_seconds.append(round(seconds, 3))
                self.log(f"reconnected to {shown_url(self.url)} after {seconds:.1f} s")
            lost_at, wait = None, RECONNECT_FIRST_SECONDS
            if self.audio is not None:
                self.audio.drain()          # the sound of the outage is not sent late
            with self._cond:
                self._connected = True
            try:
                self._stream(connection)
                connection.close()
            except (av.error.FFmpegError, OSError) as exc:
                with self._cond:
                    self._connected, self._slot = False, None
                connection.close(flush=False)
                lost_at = time.perf_counter()
                self.log(f"warning: lost {shown_url(self.url)} ({_reason(exc)}); reconnecting in the background")
                self._stop.wait(wait)
        with self._cond:
            self._connected = False

    def _stream(self, connection: _Connection) -> None:
        while not self._stop.is_set():
            taken = self._take(timeout=0.02)
            if self.audio is not None:
                for frame in self.audio.drain():
                    connection.write_audio(frame)
                    self.stats.audio_frames += 1
            if taken is not None:
                connection.write(*taken)
                self.stats.sent += 1
        # Stopping: the frame handed over last still goes out.
        taken = self._take(timeout=0)
        if taken is not None:
            connection.write(*taken)
            self.stats.sent += 1

    def _finish(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=NETWORK_TIMEOUT_SECONDS * 2)
        if self.audio is not None:
            self.audio.close()

    def close(self) -> None:
        self._finish()

    abort = close

    def summary(self) -> dict:
        s = self.stats
        return {"url": shown_url(self.url), "format": self.format, "sent_frames": s.sent,
                "dropped_offline": s.dropped_offline, "dropped_busy": s.dropped_busy,
                "audio_frames": s.audio_frames, "connections": s.connections,
                "reconnect_seconds": s.reconnect_seconds}


def _reason(exc: BaseException) -> str:
    text = (getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__).strip()
    return text.splitlines()[0]

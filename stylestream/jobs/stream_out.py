"""Stream out: the live loop's frames to an RTMP, SRT or UDP server as H.264 (+ AAC when the
camera has sound), through PyAV/FFmpeg.

The camera loop never waits on the network. `write` hands the newest frame to a sender
thread (one slot; a frame the sender has not taken yet is replaced and counted), and that
thread pipes it to a sender process (stream_sender) that encodes and sends. The process is
there because PyAV keeps Python's global lock through FFmpeg's blocking network calls: a
server that accepts and never answers would otherwise freeze every thread. A sender that
has not connected, or has not taken a frame, within NETWORK_TIMEOUT_SECONDS is killed.

While the server is unreachable frames are dropped and counted. A lost connection is
reopened in the background, first after RECONNECT_FIRST_SECONDS and then twice as long
each failed try, up to RECONNECT_MAX_SECONDS; every connection starts with a keyframe, so a
server that comes back shows pictures at once.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from stylestream.errors import UserError
from stylestream.jobs.live import NO_KEY, LiveFrame
from stylestream.jobs.stream_sender import NETWORK_TIMEOUT_SECONDS, read_message, reason, write_message
from stylestream.sinks import DEFAULT_PRESET

# URL scheme → the container FFmpeg sends in: FLV is what RTMP carries; SRT and UDP carry MPEG-TS.
STREAM_FORMATS = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts"}
RECONNECT_FIRST_SECONDS, RECONNECT_MAX_SECONDS = 0.5, 8.0
# Starting Python and PyAV in the sender process, on top of the network's own timeout.
SENDER_START_SECONDS = 5.0


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


class _Sender:
    """A running stream_sender process: `send` pipes it a message; a thread reads what it says."""

    def __init__(self, config: dict):
        root = str(Path(__file__).resolve().parents[2])       # where the stylestream package lives
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "stylestream.jobs.stream_sender"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.error: str | None = None
        self.busy_since: float | None = None        # when the write in progress began
        threading.Thread(target=self._listen, name="stream-sender-listen", daemon=True).start()
        self.send(config)

    def _listen(self) -> None:
        try:
            while (message := read_message(self.proc.stdout)) is not None:
                header = message[0]
                if header.get("connected"):
                    self.connected.set()
                if "error" in header:
                    self.error = header["error"]
        except (OSError, ValueError):
            pass
        self.proc.stdout.close()
        code = self.proc.wait()
        if self.error is None and code != 0:
            self.error = f"no answer for {NETWORK_TIMEOUT_SECONDS:.0f} s" if code < 0 else f"sender exit status {code}"
        self.ended.set()
        self.connected.set()        # wakes a wait for the connection: it will not come

    def wait_connected(self, stop: threading.Event) -> bool:
        """Whether the server accepted the stream; False when the sender failed, took too long, or `stop` was set."""
        give_up = time.perf_counter() + NETWORK_TIMEOUT_SECONDS + SENDER_START_SECONDS
        while not self.connected.wait(0.05) and not stop.is_set() and time.perf_counter() < give_up:
            pass
        if self.ended.is_set() or not self.connected.is_set():
            self.error = self.error or f"no answer in {NETWORK_TIMEOUT_SECONDS:.0f} s"
            return False
        return True

    def send(self, header: dict, payload=b"") -> None:
        """Raises OSError when the process has gone (it lost the connection, or was killed)."""
        self.busy_since = time.perf_counter()
        try:
            write_message(self.proc.stdin, header, payload)
        except ValueError as exc:       # its stdin was closed by a kill
            raise BrokenPipeError(str(exc)) from None
        finally:
            self.busy_since = None
        if self.ended.is_set():
            raise BrokenPipeError(self.error or "the sender stopped")

    def stuck(self) -> bool:
        started = self.busy_since
        return started is not None and time.perf_counter() - started > NETWORK_TIMEOUT_SECONDS

    def finish(self) -> None:
        """End of input: the sender flushes and closes the connection; killed if it takes too long."""
        self._close_input()
        if not self.ended.wait(NETWORK_TIMEOUT_SECONDS):
            self.kill()

    def kill(self) -> None:
        self.proc.kill()
        self.ended.wait(NETWORK_TIMEOUT_SECONDS)
        self._close_input()

    def _close_input(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
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
        self._sender: _Sender | None = None
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
        sender = self._sender
        if sender is not None and sender.stuck():
            sender.proc.kill()      # the server stopped taking data; the sender thread reconnects
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

    def _connect(self) -> _Sender:
        w, h = self._size
        audio = None if self.audio is None else [self.audio.sample_rate, self.audio.layout]
        return _Sender({"url": self.url, "format": self.format, "width": w, "height": h, "rate": str(self.rate),
                        "crf": self.crf, "preset": self.preset, "audio": audio})

    def _send(self) -> None:
        wait = RECONNECT_FIRST_SECONDS
        lost_at: float | None = None
        while not self._stop.is_set():
            try:
                sender = self._connect()
                connected = sender.wait_connected(self._stop)
            except OSError as exc:          # the sender process did not start, or died at once
                sender, connected = None, False
                failure = reason(exc)
            if not connected:
                if sender is not None:
                    sender.kill()
                    failure = sender.error
                if lost_at is None:
                    lost_at = time.perf_counter()
                    self.log(f"warning: cannot reach {shown_url(self.url)} ({failure}); retrying in the background")
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
            self._sender = sender
            with self._cond:
                self._connected = True
            try:
                self._stream(sender)
                sender.finish()
            except OSError:
                with self._cond:
                    self._connected, self._slot = False, None
                sender.kill()
                lost_at = time.perf_counter()
                self.log(f"warning: lost {shown_url(self.url)} ({sender.error or 'the sender stopped'}); "
                         "reconnecting in the background")
                self._stop.wait(wait)
            finally:
                self._sender = None
        with self._cond:
            self._connected = False

    def _stream(self, sender: _Sender) -> None:
        while not self._stop.is_set():
            taken = self._take(timeout=0.02)
            self._send_audio(sender)
            if taken is not None:
                self._send_video(sender, *taken)
            elif sender.ended.is_set():
                raise BrokenPipeError(sender.error or "the sender stopped")
        # Stopping: the frame handed over last still goes out.
        taken = self._take(timeout=0)
        if taken is not None:
            self._send_video(sender, *taken)

    def _send_video(self, sender: _Sender, image: np.ndarray, pts_ms: int) -> None:
        w, h = self._size
        image = np.ascontiguousarray(image[:h, :w])
        sender.send({"video": [h, w], "pts_ms": pts_ms}, image)
        self.stats.sent += 1

    def _send_audio(self, sender: _Sender) -> None:
        if self.audio is None:
            return
        for frame in self.audio.drain():
            samples = np.ascontiguousarray(frame.to_ndarray(), dtype=np.float32)
            sender.send({"audio": list(samples.shape), "pts": frame.pts}, samples)
            self.stats.audio_frames += 1

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

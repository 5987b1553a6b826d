"""The stream sender: one process per connection that encodes frames to H.264 (+ AAC) and
sends them to an RTMP, SRT or UDP server through PyAV/FFmpeg.

It runs apart from the camera loop's interpreter because PyAV keeps Python's global lock
through FFmpeg's blocking network calls: a server that accepts and then never answers
would otherwise freeze every thread. Here it freezes only this process, which
stream_out.StreamOutput kills after NETWORK_TIMEOUT_SECONDS.

Wire format, both ways a sequence of messages, each one JSON line and then, for pictures
and sound, `bytes` raw bytes:
- in (stdin): first the connection ({"url", "format", "width", "height", "rate", "crf",
  "preset", "audio": [sample_rate, layout] or null}), then {"video": [h, w], "pts_ms", "bytes"}
  with h×w×3 RGB bytes, or {"audio": [channels, samples], "pts", "bytes"} with planar float32
  samples. End of input: flush and close.
- out (stdout): {"connected": true} once the server accepted the stream, then at the end
  {"closed": true, "sent": N} or {"error": "reason"}.
"""
from __future__ import annotations

import json
import signal
import sys
from contextlib import contextmanager
from fractions import Fraction

import numpy as np

from stylestream.sinks import MILLISECOND

# A keyframe every second: a viewer who joins, or a server that comes back, waits at most this long.
KEYFRAME_SECONDS = 1.0
# How long connecting, or one write, may take before the connection counts as lost.
NETWORK_TIMEOUT_SECONDS = 5.0


def write_message(out, header: dict, payload=b"") -> None:
    """One message to a binary stream: `header` as a JSON line, then `payload`'s bytes."""
    payload = memoryview(payload).cast("B")
    out.write(json.dumps({**header, "bytes": payload.nbytes}).encode() + b"\n")
    if payload.nbytes:
        out.write(payload)
    out.flush()


def read_message(stream) -> tuple[dict, bytes] | None:
    """The next message from a binary stream, or None at its end."""
    line = stream.readline()
    if not line:
        return None
    header = json.loads(line)
    payload = stream.read(header.get("bytes", 0)) if header.get("bytes") else b""
    if len(payload) != header.get("bytes", 0):
        return None                 # cut short: the other side went away
    return header, payload


class Connection:
    """One open connection: the container, an H.264 stream and an AAC stream when there is sound."""

    def __init__(self, url: str, format: str, width: int, height: int, rate: Fraction, crf: int, preset: str,
                 audio: tuple[int, str] | None):
        import av

        options = {"flush_packets": "1"}          # each packet out at once, not when 32 KB have gathered
        if format == "flv":
            options["flvflags"] = "no_duration_filesize"   # a live stream has no end to seek back to
        self.container = av.open(url, "w", format=format, options=options, timeout=NETWORK_TIMEOUT_SECONDS)
        try:
            video = self.container.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.codec_context.time_base = video.time_base = MILLISECOND
            video.options = {"crf": str(crf), "preset": preset, "tune": "zerolatency",
                             "g": str(max(1, round(float(rate) * KEYFRAME_SECONDS))), "bf": "0"}
            self.video = video
            self.audio = None
            if audio is not None:
                sample_rate, layout = audio
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

        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        pts = max(pts_ms, self.last_pts + 1)
        frame.pts, frame.time_base = pts, MILLISECOND
        self.last_pts = pts
        self.container.mux(self.video.encode(frame))

    def write_audio(self, samples: np.ndarray, pts: int) -> None:
        import av

        if self.audio is None or pts <= self.last_audio_pts:
            return
        self.last_audio_pts = pts
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=self.audio.layout.name)
        frame.sample_rate = self.audio.rate
        frame.pts, frame.time_base = pts, Fraction(1, self.audio.rate)
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


@contextmanager
def deadline(seconds: float):
    """Ends this process when the block takes longer than `seconds`. FFmpeg's network calls
    hold the GIL, so no Python code can interrupt them; SIGALRM's default action needs none.
    Where there is no SIGALRM (Windows), the camera loop's side kills a sender that hangs."""
    if not hasattr(signal, "setitimer"):
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def send(inbox, outbox) -> None:
    """Connects as the first message says, then sends every picture and sound that follows."""
    import av

    first = read_message(inbox)
    if first is None:
        return
    config = first[0]
    try:
        with deadline(NETWORK_TIMEOUT_SECONDS):
            connection = Connection(config["url"], config["format"], config["width"], config["height"],
                                    Fraction(config["rate"]), config["crf"], config["preset"], config["audio"])
    except (av.error.FFmpegError, OSError) as exc:
        write_message(outbox, {"error": reason(exc)})
        return
    write_message(outbox, {"connected": True})
    sent = 0
    try:
        while (message := read_message(inbox)) is not None:
            header, payload = message
            with deadline(NETWORK_TIMEOUT_SECONDS):
                if "video" in header:
                    h, w = header["video"]
                    connection.write(np.frombuffer(payload, np.uint8).reshape(h, w, 3), header["pts_ms"])
                    sent += 1
                elif "audio" in header:
                    samples = np.frombuffer(payload, np.float32).reshape(header["audio"])
                    connection.write_audio(samples, header["pts"])
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        connection.close(flush=False)
        write_message(outbox, {"error": reason(exc), "sent": sent})
        return
    with deadline(NETWORK_TIMEOUT_SECONDS):
        connection.close()
    write_message(outbox, {"closed": True, "sent": sent})


def reason(exc: BaseException) -> str:
    """An exception as a short phrase for a warning line."""
    text = (getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__).strip()
    return text.splitlines()[0]


if __name__ == "__main__":
    # Ctrl+C reaches the whole process group; the camera loop, not this process, decides when
    # the stream ends (it closes stdin), so the last frames still go out.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        send(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        pass                        # the camera loop went away
    except Exception as exc:        # noqa: BLE001 — told to the camera loop, which warns in one line
        write_message(sys.stdout.buffer, {"error": reason(exc)})

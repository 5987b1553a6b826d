"""`webcam --record rtmp://…|srt://…|udp://…`: the stylized stream sent to a server started by
the test (tests/stream_server.py, PyAV listening on 127.0.0.1), which is killed mid-stream
and started again."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_clean_error, make_clip, run_cli

SERVER = Path(__file__).parent / "stream_server.py"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """tests/stream_server.py in a subprocess; `lines` fills with what it received."""

    def __init__(self, url: str):
        self.proc = subprocess.Popen([sys.executable, str(SERVER), url], stdout=subprocess.PIPE, text=True,
                                     stderr=subprocess.DEVNULL)
        self.lines: list[dict] = []
        self.listening = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        assert self.listening.wait(30), "the test server did not start"

    def _read(self) -> None:
        for line in self.proc.stdout:
            entry = json.loads(line)
            if "listening" in entry:
                self.listening.set()
            self.lines.append(entry)

    def received(self, kind: str) -> list[dict]:
        return [x for x in self.lines if x.get("type") == kind]

    def wait_for(self, kind: str, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received(kind)) >= count:
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.reader.join(10)          # every line it printed before it died is read


def test_rtmp_stream_with_sound_survives_a_server_restart(tmp_path, tiny_models):
    cam = make_clip(tmp_path / "cam.mp4", width=64, height=48, frames=240, fps=20, audio=True)
    url = f"rtmp://127.0.0.1:{free_port()}/live/secret-key"
    first = Server(url)
    job = subprocess.Popen([sys.executable, "-m", "stylestream", "webcam", "--camera", str(cam), "--style",
                            str(tiny_models["onnx"]), "--no-window", "--seconds", "9", "--record", url, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        assert first.wait_for("video", 20, 30), first.lines[-3:]
        assert first.wait_for("audio", 5, 5), "no sound arrived"
        first.kill()                      # the server drops mid-stream
        killed_at = time.time()
        time.sleep(1.0)
        second = Server(url)
        restarted_at = time.time()
        assert second.wait_for("video", 10, 20), "the stream did not resume after the server came back"
        resumed_at = second.received("video")[0]["t"]
        assert second.wait_for("audio", 5, 5), "no sound after the server came back"
        out, err = job.communicate(timeout=60)
    finally:
        job.kill()
        for server in (first, second):
            if server is not None:
                server.kill()
    assert job.returncode == 0, err
    s = json.loads(out)
    stream = s["stream"]
    assert stream["format"] == "flv" and stream["connections"] >= 2, stream
    assert "secret-key" not in out and "secret-key" not in err     # the stream key is a password
    assert stream["dropped_offline"] > 0 and len(stream["reconnect_seconds"]) >= 1, stream
    assert s["recorded_frames"] == stream["sent_frames"] > 0
    # The camera loop went on through the outage: it stylized the whole run, not only the connected part.
    assert s["frames"] >= stream["sent_frames"] + stream["dropped_offline"] - 1
    # Every frame sent reached one of the two servers, save those in flight when the first died.
    received = len(first.received("video")) + len(second.received("video"))
    assert received >= stream["sent_frames"] - 10, (received, stream)
    # Timestamps stay on one clock across the reconnection.
    assert second.received("video")[0]["pts"] > first.received("video")[-1]["pts"]
    print(f"\nrtmp: server down {restarted_at - killed_at:.2f} s, stream back {resumed_at - restarted_at:.2f} s "
          f"after the restart; {stream}")


@pytest.mark.parametrize("scheme", ["udp", "rtmp"])
def test_stream_latency(tmp_path, scheme):
    """Frames handed to the output arrive at a receiver soon after, in MPEG-TS over UDP and FLV over RTMP."""
    from stylestream.jobs.live import LiveFrame
    from stylestream.jobs.stream_out import StreamOutput

    url = (f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}" if scheme == "udp"
           else f"rtmp://127.0.0.1:{free_port()}/live/key")
    server = Server(url)
    out = StreamOutput(url, Fraction(25), log=lambda line: None)
    rng = np.random.default_rng(0)
    start = time.time()
    try:
        for i in range(75):        # 3 s at 25 fps, 320×180
            image = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
            out.write(LiveFrame(image, pts_ms=int((time.time() - start) * 1000)), [])
            time.sleep(0.04)
        out.close()
        assert server.wait_for("video", 40, 10)
    finally:
        server.kill()
    frames = server.received("video")
    # Arrival minus the moment the frame was handed over (its timestamp on the sender's clock).
    latency_ms = np.array([f["t"] - (start + f["pts"]) for f in frames]) * 1000
    steady = latency_ms[len(latency_ms) // 2:]          # after the receiver's start-up
    print(f"\n{scheme}/{out.format} 320x180: {len(frames)} of {out.stats.sent} frames, latency median "
          f"{np.median(steady):.1f} ms, max {steady.max():.1f} ms")
    assert out.summary()["format"] == ("mpegts" if scheme == "udp" else "flv")
    assert np.median(steady) < 250, steady


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP to freeze the server")
def test_a_server_that_stops_reading_mid_stream_counts_as_lost():
    """The server is frozen mid-stream (SIGSTOP): once the socket buffers are full the sender
    hangs in a write, is ended after the network timeout, and the loss is reported; the
    camera loop's writes stay instant throughout."""
    from stylestream.jobs.live import LiveFrame
    from stylestream.jobs.stream_out import StreamOutput

    url = f"rtmp://127.0.0.1:{free_port()}/live/key"
    server = Server(url)
    warnings: list[str] = []
    out = StreamOutput(url, Fraction(25), log=warnings.append)
    noise = [np.random.default_rng(i).integers(0, 256, (360, 640, 3), dtype=np.uint8) for i in range(4)]
    start, slowest = time.time(), 0.0
    try:
        for i in range(25 * 40):
            if i == 50:
                assert server.wait_for("video", 10, 10)
                os.kill(server.proc.pid, signal.SIGSTOP)
            t0 = time.perf_counter()
            out.write(LiveFrame(noise[i % 4], pts_ms=int((time.time() - start) * 1000)), [])
            slowest = max(slowest, time.perf_counter() - t0)
            if any("lost" in line for line in warnings):
                break
            time.sleep(0.04)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        server.kill()
        out.close()
    assert any("lost" in line and "no answer" in line for line in warnings), warnings
    assert slowest < 0.5, f"a camera-loop write took {slowest:.2f} s"


def test_stream_urls_are_checked_before_the_camera_opens(tmp_path, tiny_models):
    from stylestream.jobs.stream_out import protocol_available

    cam = make_clip(tmp_path / "cam.mp4", frames=5)
    args = ("webcam", "--camera", cam, "--style", tiny_models["onnx"], "--no-window", "--seconds", "1", "--record")
    assert_clean_error(run_cli(*args, "http://127.0.0.1:8080/x"), "rtmp://")
    assert_clean_error(run_cli(*args, "rtmp:///live/key"), "no host")
    if protocol_available("srt"):
        pytest.skip("this PyAV's FFmpeg has SRT: nothing to refuse")
    assert_clean_error(run_cli(*args, "srt://127.0.0.1:9000"), "libsrt")


def test_printed_urls_hide_the_stream_key():
    from stylestream.jobs.stream_out import shown_url

    assert shown_url("rtmp://a.example/live2/abcd-1234") == "rtmp://a.example/live2/…"
    assert shown_url("srt://host:9000?passphrase=secret") == "srt://host:9000"
    assert shown_url("udp://239.0.0.1:1234") == "udp://239.0.0.1:1234"



def test_the_camera_loop_never_waits_on_a_server_that_does_not_answer():
    """A server that accepts the connection and then says nothing (a network that stopped
    answering) holds only the sender process, never the loop: its frames are dropped and
    counted, the sender is given up after the network timeout with a warning, and closing
    the output does not wait for it."""
    from stylestream.jobs.live import LiveFrame
    from stylestream.jobs.stream_out import SENDER_START_SECONDS, StreamOutput
    from stylestream.jobs.stream_sender import NETWORK_TIMEOUT_SECONDS

    warnings: list[str] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        out = StreamOutput(f"rtmp://127.0.0.1:{silent.getsockname()[1]}/live/x", Fraction(25), log=warnings.append)
        image = np.zeros((32, 32, 3), np.uint8)
        t0 = time.perf_counter()
        for i in range(50):
            out.write(LiveFrame(image, pts_ms=i * 40), [])
            time.sleep(0.01)
        assert time.perf_counter() - t0 < 1.5
        assert out.stats.dropped_offline == 50 and out.stats.sent == 0 and not out.connected
        deadline = time.monotonic() + NETWORK_TIMEOUT_SECONDS + SENDER_START_SECONDS + 5
        while not warnings and time.monotonic() < deadline:
            time.sleep(0.1)
        assert warnings and "cannot reach" in warnings[0] and "no answer" in warnings[0], warnings
        t0 = time.perf_counter()
        out.close()
        assert time.perf_counter() - t0 < 3, "closing waited on the silent server"

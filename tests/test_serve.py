"""`webcam --serve`: the studio page, its endpoints and controls, several viewers, and the
page itself in headless Chromium. The camera is a looping video file."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import ROOT, assert_clean_error, make_clip, run_cli
import webdriver

STARTUP_SECONDS = 60


class Studio:
    """A `stylestream webcam --serve` process and its address."""

    def __init__(self, proc: subprocess.Popen, url: str):
        self.proc, self.url = proc, url

    def get(self, path: str) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, path: str) -> dict:
        status, _, body = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)

    def post(self, body: bytes | dict, content_type: str = "application/json", path: str = "controls") -> tuple[int, dict]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def snapshot(self, after: int = -1, timeout: float = 20.0) -> tuple[int, np.ndarray]:
        """(frame number, RGB picture) of the newest frame, waiting for one after `after`."""
        import cv2

        deadline = time.monotonic() + timeout
        while True:
            status, headers, body = self.get("/snapshot.jpg")
            if status == 200 and int(headers["X-Frame"]) > after:
                return int(headers["X-Frame"]), cv2.cvtColor(cv2.imdecode(np.frombuffer(body, np.uint8), 1),
                                                             cv2.COLOR_BGR2RGB)
            assert time.monotonic() < deadline, "no new frame"
            time.sleep(0.05)


def start_studio(camera, *args) -> Studio:
    proc = subprocess.Popen([sys.executable, "-m", "stylestream", "webcam", "--camera", str(camera), "--loop",
                             "--no-window", "--serve", "127.0.0.1:0", "--json", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found: list[str] = []

    def read_address():
        for line in proc.stderr:
            if m := re.search(r"studio page at (http://\S+)", line):
                found.append(m.group(1))
                return
    reader = threading.Thread(target=read_address, daemon=True)
    reader.start()
    reader.join(STARTUP_SECONDS)
    if not found:
        proc.kill()
        pytest.fail(f"the studio did not start: {proc.communicate()[1][-2000:]}")
    return Studio(proc, found[0])


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    camera = make_clip(tmp_path_factory.mktemp("serve") / "cam.mp4", width=160, height=96, frames=30, fps=15)
    s = start_studio(camera, "--seconds", "300")
    s.snapshot()
    yield s
    s.proc.terminate()
    out, _ = s.proc.communicate(timeout=60)
    assert s.proc.returncode == 130, out        # ended by a signal, its summary still printed
    assert json.loads(out)["serve"]["url"] == s.url


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean pixel difference: motion, or anything else."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def palette_difference(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart the pictures' mean colours are: a style's palette, which moving texture
    under the same style hardly changes."""
    return float(np.abs(a.reshape(-1, 3).mean(0) - b.reshape(-1, 3).mean(0)).sum())


def test_endpoints(studio):
    status, headers, page = studio.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"stylestream studio" in page
    s = studio.json("/status")
    assert s["frames"] > 0 and s["camera_fps"] == 15 and s["serve"]["url"] == studio.url
    assert {"latency_ms", "dropped", "captured", "style", "temporal"} <= set(s)
    controls = studio.json("/controls")
    assert {"starry", "candy", "mosaic"} <= set(controls["styles"])
    assert abs(studio.json("/clock")["ms"] - time.time() * 1000) < 1000
    assert studio.get("/nothing")[0] == 404


def test_snapshots_move_and_a_style_switch_changes_the_next_one(studio):
    assert studio.post({"style": "starry", "temporal": True})[0] == 200
    first, a = studio.snapshot()
    second, b = studio.snapshot(after=first + 2)
    assert b.shape == (96, 160, 3) and difference(a, b) > 0.5       # the camera moves, so do the frames
    status, controls = studio.post({"style": "candy"})
    assert status == 200 and controls["style"] == "candy"
    # The frame being stylized as the answer came may be the old style; the one after is not.
    at, _ = studio.snapshot()
    _, c = studio.snapshot(after=at + 1)
    assert palette_difference(b, c) > 4 * max(palette_difference(a, b), 2), \
        (palette_difference(b, c), palette_difference(a, b))
    assert studio.json("/status")["style"] == "candy"


def test_strength_and_colour_apply_to_the_next_frames(studio):
    assert studio.post({"style": "candy", "strength": 1.0, "preserve_color": False})[0] == 200
    at, full = studio.snapshot()
    assert studio.post({"strength": 0.0})[0] == 200
    at, _ = studio.snapshot(after=at)
    _, none = studio.snapshot(after=at + 1)
    # Strength 0 is the camera frame itself: the clip's smooth gradient, not candy's strokes.
    assert np.abs(np.diff(none.astype(np.int16), axis=1)).mean() < np.abs(np.diff(full.astype(np.int16), axis=1)).mean() / 2
    assert studio.post({"strength": 1.0})[0] == 200


@pytest.mark.parametrize("body, status, needle", [
    ({"style": "no-such-style"}, 400, "unknown style"),
    ({"strength": 1.5}, 400, "between 0 and 1"),
    ({"strength": "high"}, 400, "between 0 and 1"),
    ({"strength": True}, 400, "between 0 and 1"),
    ({"preserve_color": "yes"}, 400, "true or false"),
    ({"temporal": 1}, 400, "true or false"),
    ({"speed": 2}, 400, "unknown setting"),
    (b"{not json", 400, "JSON object"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"style": "' + b"x" * 5000 + b'"}', 413, "at most"),
])
def test_bad_controls_are_refused_and_the_stream_runs_on(studio, body, status, needle):
    before = studio.json("/controls")
    at, _ = studio.snapshot()
    got, answer = studio.post(body)
    assert got == status and needle in answer["error"], (got, answer)
    assert studio.json("/controls") == before          # nothing changed
    studio.snapshot(after=at + 1)                       # and frames keep coming


def test_pictures_as_styles_follow_the_installed_arbitrary_style_model(studio, tmp_path, monkeypatch):
    """The installed model turns the page's picture picker on (test_arbitrary posts pictures);
    without a model the job gets no picture stylizer, which the server answers with 409."""
    from stylestream import arbitrary
    from stylestream.api import _picture_styles

    assert studio.json("/controls")["picture_styles"] is True
    monkeypatch.setattr(arbitrary, "DEFAULT_MODEL", tmp_path / "adain.frame.onnx")
    assert _picture_styles(None, None) is None
    first, _ = studio.snapshot()
    studio.snapshot(after=first)          # the stream runs on


def test_controls_need_a_json_body(studio):
    assert studio.post(b'{"strength": 0.5}', content_type="text/plain") == \
        (415, {"error": "a control message is application/json"})


def _read_parts(url: str, seconds: float) -> list[tuple[int, float]]:
    """(frame number, capture-to-arrival ms) of each part a viewer reading as fast as it can gets."""
    from stylestream.jobs.serve import read_parts

    got = []
    with urllib.request.urlopen(url + "stream.mjpg", timeout=30) as r:
        assert r.headers.get_content_type() == "multipart/x-mixed-replace"
        end = time.monotonic() + seconds
        for headers, jpeg in read_parts(r):
            assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"      # whole JPEGs
            got.append((int(headers["x-frame"]), time.time() * 1000 - float(headers["x-captured-ms"])))
            if time.monotonic() >= end:
                break
    return got


def test_a_stalled_viewer_costs_the_others_nothing(studio):
    """A viewer that stops reading fills its small send buffer and then gets no more frames;
    a second viewer meanwhile gets every new frame, as fresh as before."""
    host, port = studio.url.split("/")[2].split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    try:
        time.sleep(1.0)                                 # long enough to fill its buffers
        parts = _read_parts(studio.url, 3.0)
        serving = studio.json("/status")["serve"]
        assert serving["viewers"] == 2 and serving["peak_viewers"] >= 2
    finally:
        stalled.close()
    numbers = [n for n, _ in parts]
    assert len(parts) >= 10 and numbers == sorted(set(numbers))      # in order, none twice
    # Capture to arrival stays well under a second: no frames pile up anywhere.
    assert np.median([ms for _, ms in parts]) < 500, parts


def test_the_part_reader_stops_where_the_stream_ends():
    import io

    from stylestream.jobs.serve import BOUNDARY, read_parts

    def part(n: int, body: bytes) -> bytes:
        return (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\nX-Frame: {n}\r\n\r\n"
                .encode() + body + b"\r\n")

    stream = io.BytesIO(part(1, b"\xff\xd8one\xff\xd9") + part(2, b"\xff\xd8two\r\n\xff\xd9"))
    got = [(h["x-frame"], body) for h, body in read_parts(stream)]
    assert got == [("1", b"\xff\xd8one\xff\xd9"), ("2", b"\xff\xd8two\r\n\xff\xd9")]
    assert list(read_parts(io.BytesIO(b""))) == []


def test_latest_frame_is_encoded_once_and_a_late_reader_skips_to_the_newest():
    from stylestream.jobs.serve import LatestFrame

    latest = LatestFrame()
    frames = [np.full((36, 64, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    for i, f in enumerate(frames):
        latest.put(f, 1000.0 + i)
    seq, jpeg, captured = latest.newer(-1, timeout=1)
    assert (seq, captured) == (3, 1003.0) and jpeg[:2] == b"\xff\xd8"   # the newest, not the first
    assert latest.newer(3, timeout=0.05) is None                       # nothing newer: waits, then nothing
    assert latest.newer(-1, timeout=1)[1] is jpeg and latest.encoded_frames == 1   # a second viewer shares it
    latest.close()
    assert latest.newer(3, timeout=5) is None


def test_serving_beyond_loopback_needs_a_flag(capsys):
    from stylestream.errors import UserError
    from stylestream.jobs.serve import parse_address

    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("localhost:0") == ("localhost", 0)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(UserError, match="--serve-public"):
        parse_address("0.0.0.0:8080")
    assert capsys.readouterr().err == ""
    assert parse_address("0.0.0.0:8080", public=True) == ("0.0.0.0", 8080)
    assert "warning" in capsys.readouterr().err
    with pytest.raises(UserError, match="HOST:PORT"):
        parse_address("127.0.0.1:http")


def test_cli_refuses_a_public_address_and_a_looping_camera(tmp_path):
    assert_clean_error(run_cli("webcam", "--serve", "0.0.0.0:8080", "--no-window"), "--serve-public")
    assert_clean_error(run_cli("webcam", "--camera", "rtsp://127.0.0.1:9/none", "--loop", "--no-window",
                               "--seconds", "1"), "--loop")


def test_a_looping_file_camera_does_not_end(tmp_path):
    from stylestream.sources import CameraSource

    source = CameraSource(str(make_clip(tmp_path / "cam.mp4", frames=5, fps=50)), loop=True)
    try:
        seqs = [source.read()[0] for _ in range(12)]
    finally:
        source.close()
    assert seqs == sorted(seqs) and source.captured >= 12 > 5 and not source.lost


def test_history_is_kept_across_strength_and_colour_and_reset_by_a_style_switch(tmp_path):
    from stylestream.api import StyleOptions, stylizer
    from stylestream.jobs.camera import CameraFrames, LiveControls, LiveSettings, StyleBank
    from stylestream.sources import CameraSource

    options = StyleOptions(max_size=64)
    bank = StyleBank({"starry": stylizer("starry", options)}, lambda name: stylizer(name, options), more=["candy"])
    assert bank.names == ["starry", "candy"] and bank.opened == ["starry"]
    controls = LiveControls(bank, LiveSettings("starry", 1.0, False, True))
    frames = CameraFrames(CameraSource(str(make_clip(tmp_path / "cam.mp4", frames=40, fps=50)), loop=True),
                          controls, 0.5)
    try:
        history = lambda: frames.stylize.temporal.previous    # noqa: E731
        frames.next(False), frames.next(False)
        assert history() is not None
        controls.change(strength=0.5, preserve_color=True)
        frames.next(False)
        assert frames.stylize.stylizer.strength == 0.5 and frames.stylize.stylizer.keep_color
        kept = history()
        frames._apply(controls.change(strength=0.7))
        assert history() is kept                       # blending weights leave the history as it is
        frames._apply(controls.change(style="candy"))
        assert history() is None and bank.opened == ["starry", "candy"]
        assert frames.stylize.stylizer is bank.stylizer("candy")
        frames._apply(controls.change(temporal=False))
        frames.next(False)
        assert not frames.stylize.enabled
    finally:
        frames.close()


@pytest.mark.skipif(webdriver.missing() is not None, reason=webdriver.missing() or "")
def test_the_page_in_headless_chromium(studio, tmp_path):
    import cv2

    assert studio.post({"style": "starry", "strength": 1.0, "preserve_color": False, "temporal": True})[0] == 200
    with webdriver.Browser() as browser:
        browser.open(studio.url)
        browser.wait_for("return window.studio.frames >= 3")
        box = browser.run("const r = document.getElementById('screen').getBoundingClientRect();"
                          "return [r.left, r.top, r.width, r.height].map(Math.round)")

        def screen() -> np.ndarray:
            x, y, w, h = box
            shot = cv2.imdecode(np.frombuffer(browser.screenshot(), np.uint8), cv2.IMREAD_COLOR)
            return shot[y:y + h, x:x + w]

        painted = browser.run("return window.studio.frames")
        a = screen()
        browser.wait_for("return window.studio.frames >= arguments[0] + 3", 20, painted)
        b = screen()
        assert a.shape[0] > 100 and difference(a, b) > 0.5           # moving stylized frames on the page
        assert "FPS" in browser.run("return document.getElementById('meter').textContent")
        latencies = browser.run("return window.studio.latencies")
        assert 0 < np.median(latencies) < 2000, latencies

        before_at, before = studio.snapshot()
        _, same_style = studio.snapshot(after=before_at + 1)
        browser.click("#style option[value='mosaic']")                # a viewer picks another style
        deadline = time.monotonic() + 30
        while studio.json("/controls")["style"] != "mosaic":
            assert time.monotonic() < deadline, "the page's choice never reached the server"
            time.sleep(0.1)
        at, _ = studio.snapshot()
        _, after = studio.snapshot(after=at + 1)
        assert palette_difference(before, after) > 4 * max(palette_difference(before, same_style), 2), \
            (palette_difference(before, after), palette_difference(before, same_style))

        # A bad value from the page: its message shown, the stream still playing.
        assert browser.run("return window.studio.send({strength: 7})") is False
        assert "between 0 and 1" in browser.run("return document.getElementById('error').textContent")
        painted = browser.run("return window.studio.frames")
        browser.wait_for("return window.studio.frames >= arguments[0] + 3", 20, painted)
        (tmp_path / "studio.png").write_bytes(browser.screenshot())


def test_the_studio_needs_no_torch():
    """The plain install has no PyTorch, and webcam --serve is on its path."""
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None; "
                           "import stylestream.jobs.serve"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]

"""The studio page: a live output that serves the stylized stream and its controls over HTTP.

    GET  /              the page (stream, style, strength, preserve colour, temporal, snapshot,
                        FPS and latency)
    GET  /stream.mjpg   the stream: multipart JPEG, each part stamped with X-Frame (its number)
                        and X-Captured-Ms (when its camera frame was captured, server clock)
    GET  /snapshot.jpg  the newest stylized frame
    GET  /status        the job's summary so far (what --json prints at the end)
    GET  /controls      the settings and the styles to choose from
    POST /controls      a JSON object of settings to change; a bad one answers 4xx with
                        {"error": "..."} and changes nothing
    POST /style-picture?name=FILE   a picture (image/jpeg, png, webp or bmp) to paint in: it
                        becomes a style through the arbitrary-style model and is switched to;
                        refused (409) when the job has no such model
    GET  /clock         the server's clock, which the page uses to measure latency

Why multipart JPEG over the standard library's threaded HTTP server: each frame is encoded
once (about 2 ms at 640×360) and the same bytes go to every viewer, so another viewer costs
one socket write per frame; a browser shows each part as it arrives, with no buffering
player between the socket and the screen. WebRTC or a video codec would encode per viewer
(or buffer several frames) and need a heavy dependency for no gain on a local network.

Every viewer reads the newest frame when it is ready for one: a slow viewer skips frames and
never makes a queue, and its socket's send buffer is kept to about two frames, so neither its
own latency nor anyone else's grows.
"""
from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from stylestream.errors import UserError
from stylestream.jobs.camera import LiveControls
from stylestream.jobs.live import NO_KEY, LiveFrame
from stylestream.stylizer import Stylizer

# A picture's bytes, its file suffix and name → its stylizer; UserError for a bad picture.
PictureStyle = Callable[[bytes, str, str], Stylizer]

PAGE = Path(__file__).with_name("studio.html")
JPEG_QUALITY = 85
BOUNDARY = "stylestream-frame"
MAX_CONTROL_BYTES = 4096        # a settings change is a few dozen bytes
MAX_PICTURE_BYTES = 20 * 1024 * 1024    # a phone photo is 2–8 MB
# Each uploaded style keeps an engine open; this bounds what viewers can make the job hold.
MAX_UPLOADED_STYLES = 16
# Not types a web form may send without asking first (CORS), so other pages cannot upload here.
PICTURE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/bmp": ".bmp"}
NO_PICTURE_STYLES = ("this job has no arbitrary-style model, so a picture cannot be a style: install one, or start "
                     "it with --style-image (docs/arbitrary_style.md)")
# A viewer's send buffer: about two 640×360 frames. The kernel's own, grown to megabytes for a
# fast link, would hold seconds of frames for a viewer that reads slowly.
STREAM_SEND_BUFFER = 128 * 1024
WAIT_POLL_SECONDS = 1.0         # how often a waiting viewer checks that the server still runs


def parse_address(spec: str, public: bool = False) -> tuple[str, int]:
    """(host, port) from "HOST:PORT", ":PORT" or "PORT" (host 127.0.0.1). A host that is not
    this computer's loopback needs `public`, and then a warning is printed."""
    host, _, port_text = spec.rpartition(":") if ":" in spec else ("", "", spec)
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UserError(f"--serve takes HOST:PORT or PORT, e.g. 127.0.0.1:8080, not {spec!r}")
    if not _is_loopback(host):
        if not public:
            raise UserError(f"--serve {spec}: serving beyond this computer (host {host}) needs --serve-public")
        print(f"stylestream: warning: serving on {host}:{port_text}: anyone who can reach it can watch the camera "
              "and change the style", file=sys.stderr)
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LatestFrame:
    """The newest stylized frame, encoded once, whoever asks for it first, and shared."""

    def __init__(self, quality: int = JPEG_QUALITY):
        self.quality = quality
        self.seq = -1
        self.closed = False
        self.encoded_frames = 0
        self._image: np.ndarray | None = None
        self._captured_ms = 0.0
        self._cond = threading.Condition()
        self._encode_lock = threading.Lock()
        self._encoded: tuple[int, bytes, float] | None = None

    def put(self, image: np.ndarray, captured_ms: float) -> None:
        with self._cond:
            self.seq += 1
            self._image, self._captured_ms = image, captured_ms
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def newer(self, after: int, timeout: float) -> tuple[int, bytes, float] | None:
        """(number, JPEG, capture time in ms) of the newest frame after `after`; None when
        there is none within `timeout` or the server is closing."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed or self.seq > after, timeout) or self.closed:
                return None
            seq, image, captured_ms = self.seq, self._image, self._captured_ms
        return self._jpeg(seq, image, captured_ms)

    def newest(self) -> tuple[int, bytes, float] | None:
        with self._cond:
            if self._image is None:
                return None
            seq, image, captured_ms = self.seq, self._image, self._captured_ms
        return self._jpeg(seq, image, captured_ms)

    def _jpeg(self, seq: int, image: np.ndarray, captured_ms: float) -> tuple[int, bytes, float]:
        import cv2

        with self._encode_lock:
            # A newer frame encoded while this viewer waited for the lock is the better answer.
            if self._encoded is None or self._encoded[0] < seq:
                ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                        [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    raise RuntimeError("JPEG encoding failed")
                self._encoded = (seq, data.tobytes(), captured_ms)
                self.encoded_frames += 1
            return self._encoded


class StudioServer:
    """A live output (jobs.live.LiveOutput) that serves the studio page; the server runs
    from construction (so a taken port fails before the camera starts) until close."""
    interactive = False

    def __init__(self, address: tuple[str, int], controls: LiveControls, status: Callable[[], dict],
                 picture_style: PictureStyle | None = None):
        self.controls, self.status, self.picture_style = controls, status, picture_style
        self.uploaded: list[str] = []
        self.latest = LatestFrame()
        self.viewers = self.peak_viewers = self.frames_sent = 0
        self._count_lock = threading.Lock()
        try:
            self.httpd = ThreadingHTTPServer(address, _handler(self))
        except OSError as exc:
            raise UserError(f"--serve {address[0]}:{address[1]}: cannot listen there ({exc.strerror or exc})") from None
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="serve", daemon=True)
        self._thread.start()
        print(f"stylestream: studio page at {self.url}", file=sys.stderr, flush=True)

    def write(self, frame: LiveFrame, overlay: list[str]) -> None:
        if not frame.fresh:
            return
        # The capture time on the wall clock, which the page can compare with its own. The
        # two clocks drift apart (NTP slews the wall clock), so the age is taken now.
        age = 0.0 if frame.captured_at is None else time.perf_counter() - frame.captured_at
        self.latest.put(frame.image, (time.time() - age) * 1000)

    def key(self, wait_ms: int) -> int:
        return NO_KEY

    def stats(self) -> dict:
        return {"url": self.url, "viewers": self.viewers, "peak_viewers": self.peak_viewers,
                "frames_sent": self.frames_sent, "frames_encoded": self.latest.encoded_frames}

    def close(self) -> None:
        self.latest.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    abort = close

    def viewer(self, joined: bool) -> None:
        with self._count_lock:
            self.viewers += 1 if joined else -1
            self.peak_viewers = max(self.peak_viewers, self.viewers)


def _handler(studio: StudioServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "stylestream"
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the requests would drown the job's output
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/snapshot.jpg":
                got = studio.latest.newest()
                if got is None:
                    self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "no frame yet"})
                else:
                    seq, jpeg, captured_ms = got
                    self._send(HTTPStatus.OK, jpeg, "image/jpeg", {"X-Frame": seq, "X-Captured-Ms": f"{captured_ms:.1f}"})
            elif path == "/status":
                self._json(HTTPStatus.OK, {**studio.status(), "serve": studio.stats()})
            elif path == "/controls":
                self._json(HTTPStatus.OK, self._controls())
            elif path == "/clock":
                self._json(HTTPStatus.OK, {"ms": time.time() * 1000})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            if path == "/controls":
                self._change_controls()
            elif path == "/style-picture":
                self._add_picture_style()
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

        def _body_length(self, what: str, limit: int) -> int | None:
            """The request body's length, or None when it was answered with an error."""
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                self._json(HTTPStatus.LENGTH_REQUIRED, {"error": f"{what} needs a Content-Length"})
                return None
            if int(length) > limit:
                self.close_connection = True    # its body is left unread
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"{what} is at most {limit} bytes, not {length}"})
                return None
            return int(length)

        def _change_controls(self) -> None:
            if (length := self._body_length("a control message", MAX_CONTROL_BYTES)) is None:
                return
            # A JSON content type keeps other web pages from posting here: a browser asks this
            # server first (CORS), and it never says yes.
            if self.headers.get_content_type() != "application/json":
                self.close_connection = True
                self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "a control message is application/json"})
                return
            try:
                changes = json.loads(self.rfile.read(length))
            except (ValueError, UnicodeDecodeError):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "a control message is a JSON object"})
                return
            if not isinstance(changes, dict):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "a control message is a JSON object"})
                return
            try:
                studio.controls.change(**changes)
            except UserError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._json(HTTPStatus.OK, self._controls())

        def _add_picture_style(self) -> None:
            if studio.picture_style is None:
                self.close_connection = True
                self._json(HTTPStatus.CONFLICT, {"error": NO_PICTURE_STYLES})
                return
            if (length := self._body_length("a picture", MAX_PICTURE_BYTES)) is None:
                return
            suffix = PICTURE_TYPES.get(self.headers.get_content_type())
            if suffix is None:
                self.close_connection = True
                self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                           {"error": f"a picture is one of {', '.join(PICTURE_TYPES)}, not {self.headers.get_content_type()}"})
                return
            picture = self.rfile.read(length)
            if len(studio.uploaded) >= MAX_UPLOADED_STYLES:
                self._json(HTTPStatus.CONFLICT, {"error": f"this job already has {MAX_UPLOADED_STYLES} uploaded styles"})
                return
            query = parse_qs(urlsplit(self.path).query)
            wanted = _style_name(query.get("name", ["picture"])[0])
            try:
                stylizer = studio.picture_style(picture, suffix, wanted)
            except UserError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            name = studio.controls.styles.add_opened(wanted, stylizer)
            studio.uploaded.append(name)
            studio.controls.change(style=name)
            self._json(HTTPStatus.OK, self._controls())

        def _controls(self) -> dict:
            s = studio.controls.settings
            return {"style": s.style, "strength": s.strength, "preserve_color": s.preserve_color,
                    "temporal": s.temporal, "styles": studio.controls.styles.names,
                    "picture_styles": studio.picture_style is not None, "max_picture_bytes": MAX_PICTURE_BYTES}

        def _json(self, status: HTTPStatus, body: dict) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            self.close_connection = True
            sock = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            studio.viewer(joined=True)
            seq = -1
            try:
                while not studio.latest.closed:
                    got = studio.latest.newer(seq, WAIT_POLL_SECONDS)
                    if got is None:
                        continue
                    seq, jpeg, captured_ms = got
                    head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                            f"X-Frame: {seq}\r\nX-Captured-Ms: {captured_ms:.1f}\r\n\r\n").encode()
                    self.wfile.write(head + jpeg + b"\r\n")   # one write: one packet train, no Nagle wait
                    studio.frames_sent += 1
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass            # the viewer left
            finally:
                studio.viewer(joined=False)

    return Handler


def read_parts(stream) -> Iterator[tuple[dict[str, str], bytes]]:
    """The parts of a /stream.mjpg response (a binary file object) as (headers with lower-case
    names, JPEG bytes), until the stream ends: the reader of what Handler._stream writes, for
    tools and tests."""
    while True:
        headers: dict[str, str] = {}
        for line in iter(stream.readline, b""):
            line = line.strip()
            if not line and headers:
                break
            if b":" in line:
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
        else:
            return
        yield headers, stream.read(int(headers["content-length"]) + 2)[:-2]


def _style_name(filename: str) -> str:
    """An uploaded picture's style name: its file name's stem, in letters, digits, - and _."""
    stem = Path(filename.replace("\\", "/")).stem
    return re.sub(r"[^\w-]+", "-", stem).strip("-")[:40] or "picture"

"""A headless Chromium driven through chromedriver's W3C WebDriver protocol (JSON over HTTP),
for the studio page's tests and benchmark: Debian's chromium and chromium-driver, no download.

The few commands the tests use (open a page, run a script, find and click an element, take a
screenshot) are a dozen lines of HTTP, so no client library is needed."""
from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Headless, offline and quiet: no sandbox (containers run as root), no GPU, nothing fetched
# in the background.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1100,700"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"     # the W3C key of an element reference


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, timeout: float = 30.0):
        self.port = _free_port()
        self.profile = tempfile.TemporaryDirectory(prefix="stylestream-chromium-")
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline or self.driver.poll() is not None:
                    self.driver.kill()
                    raise RuntimeError("chromedriver did not start")
                time.sleep(0.1)
        options = {"binary": CHROMIUM, "args": [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile.name}"]}
        try:
            got = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}})
        except BaseException:
            self.driver.kill()
            raise
        self.session = f"/session/{got['sessionId']}"

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"webdriver {method} {path}: {exc.read()[:500]!r}") from None

    def open(self, url: str) -> None:
        self._call("POST", f"{self.session}/url", {"url": url})

    def run(self, script: str, *args):
        """The value of a function body run in the page (`return ...`)."""
        return self._call("POST", f"{self.session}/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout: float = 20.0, *args):
        deadline = time.monotonic() + timeout
        while not (value := self.run(script, *args)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never made this true: {script}")
            time.sleep(0.1)
        return value

    def click(self, css: str) -> None:
        found = self._call("POST", f"{self.session}/element", {"using": "css selector", "value": css})
        self._call("POST", f"{self.session}/element/{found[ELEMENT]}/click", {})

    def choose_file(self, css: str, path) -> None:
        """Picks `path` in the file input `css`, as a user would in the file dialog."""
        found = self._call("POST", f"{self.session}/element", {"using": "css selector", "value": css})
        self._call("POST", f"{self.session}/element/{found[ELEMENT]}/value", {"text": str(path)})

    def screenshot(self) -> bytes:
        """The page as PNG bytes."""
        return base64.b64decode(self._call("GET", f"{self.session}/screenshot"))

    def close(self) -> None:
        try:
            self._call("DELETE", self.session)
        except (OSError, RuntimeError):
            pass
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

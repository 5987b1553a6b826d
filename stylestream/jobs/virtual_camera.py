"""A virtual camera as a live output: the stylized frames become a camera that video-call
apps and OBS can pick, through pyvirtualcam (the `vcam` extra) and its backend: the
v4l2loopback kernel module on Linux, OBS Studio's virtual camera on Windows and macOS."""
from __future__ import annotations

import sys
from fractions import Fraction

from stylestream.errors import UserError
from stylestream.jobs.live import NO_KEY, LiveFrame

INSTALL_PYVIRTUALCAM = "pip install 'stylestream[vcam]'"


def backend_hint() -> str:
    """What to install for pyvirtualcam's backend on this system."""
    if sys.platform.startswith("linux"):
        return ("the v4l2loopback kernel module (Debian/Ubuntu: apt install v4l2loopback-dkms; "
                "then modprobe v4l2loopback exclusive_caps=1)")
    return "OBS Studio 26 or later, whose virtual camera it drives"


def require_pyvirtualcam():
    """The pyvirtualcam module; UserError naming the extra and the backend when it is missing."""
    try:
        import pyvirtualcam
    except ImportError:
        raise UserError(f"--virtual-camera needs pyvirtualcam: {INSTALL_PYVIRTUALCAM}, and {backend_hint()}") \
            from None
    return pyvirtualcam


class VirtualCamera:
    """Opened at the first frame, at its size; frames shown while paused are sent again, so
    the apps watching keep a live picture."""
    interactive = False

    def __init__(self, rate: Fraction, device: str | None = None):
        self.pyvirtualcam = require_pyvirtualcam()
        self.rate, self.device = float(rate), device
        self.camera = None
        self.opened_device: str | None = None
        self.frames = 0

    def write(self, frame: LiveFrame, overlay: list[str]) -> None:
        if self.camera is None:
            h, w = frame.image.shape[:2]
            try:
                self.camera = self.pyvirtualcam.Camera(w, h, self.rate, fmt=self.pyvirtualcam.PixelFormat.RGB,
                                                       device=self.device)
            except RuntimeError as exc:      # pyvirtualcam's word for a backend that is missing or busy
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no backend"
                raise UserError(f"--virtual-camera: no virtual camera device ({reason}); install "
                                f"{backend_hint()}") from None
            self.opened_device = self.camera.device
        self.camera.send(frame.image)
        self.frames += 1

    def key(self, wait_ms: int) -> int:
        return NO_KEY

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()
            self.camera = None

    abort = close

    def summary(self) -> dict:
        return {"device": self.opened_device, "frames": self.frames}

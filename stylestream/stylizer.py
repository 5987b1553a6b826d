"""Frame in, stylized frame out: resize to the processing size, run the engine, scale
back to the source size, then blend (--strength) and recolour (--preserve-color).

A frame goes through a Stylizer in three steps, which a video job runs as stages with the
temporal method's two between them: `prepare` (the frame as the engine side holds it) →
temporal `estimate` → `infer` → temporal `blend` → `deliver`. Calling the Stylizer does the
three in a row, for a picture on its own.

Frames are H×W×3 uint8 RGB numpy arrays everywhere in the runtime, outside TorchStylizer.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylestream.backends.base import Engine
from stylestream.errors import UserError
from stylestream.temporal import DEFAULT_STRENGTH, Temporal


# The nets pad by reflection (4 px at full size, 1 px at a quarter of it), which needs more
# pixels than the padding on every side: a smaller picture is stylized scaled up to this.
MIN_PROCESSING_SIDE = 16


def processing_size(width: int, height: int, max_size: int | None, multiple: int) -> tuple[int, int]:
    """Largest size with the source's aspect, longer side ≤ max_size, both sides multiples of
    `multiple` and at least MIN_PROCESSING_SIDE (a sliver of a picture is stretched to that)."""
    scale = min(1.0, max_size / max(width, height)) if max_size else 1.0
    least = -(-MIN_PROCESSING_SIDE // multiple) * multiple
    limit = max(least, (max_size // multiple) * multiple) if max_size else None

    def fit(side: int) -> int:
        n = max(least, int(round(side * scale / multiple)) * multiple)
        return min(n, limit) if limit else n
    return fit(width), fit(height)


def processing_plan(width: int, height: int, max_size: int | None, multiple: int) -> tuple[int, int, int, int]:
    """(width, height, right pad, bottom pad) to stylize at. A frame that needs no shrinking
    keeps its pixels and is padded to the engine's multiple, then cropped: resampling it by a
    pixel or two, as processing_size would, blurs exactly the fine texture the style paints
    (on chicago.jpg at 510×338 it cost 14 % of the style distance)."""
    if min(width, height) >= MIN_PROCESSING_SIDE and (not max_size or max(width, height) <= max_size):
        return width, height, -width % multiple, -height % multiple
    return (*processing_size(width, height, max_size, multiple), 0, 0)


def preserve_color(stylized: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Stylized luminance with the source's chroma (YCrCb), after Gatys et al. 2016."""
    y = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    src = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb)
    src[..., 0] = y[..., 0]
    return cv2.cvtColor(src, cv2.COLOR_YCrCb2RGB)


def finish(styled: np.ndarray, source: np.ndarray, strength: float, keep_color: bool) -> np.ndarray:
    """--preserve-color, then --strength: how the stylized frame is combined with its source."""
    if keep_color:
        styled = preserve_color(styled, source)
    if strength < 1.0:
        styled = cv2.addWeighted(styled, strength, source, 1.0 - strength, 0.0)
    return styled


@dataclass
class Stylizer:
    engine: Engine
    max_size: int | None = None
    strength: float = 1.0
    keep_color: bool = False

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError("--strength must be between 0 and 1")

    @property
    def mixes_source(self) -> bool:
        """--preserve-color or --strength < 1: the output is combined with the source frame."""
        return self.keep_color or self.strength < 1.0

    def temporal(self, strength: float = DEFAULT_STRENGTH) -> Temporal:
        """The temporal method's implementation for this stylizer's frames: its `estimate`
        takes what `prepare` gives, its `blend` what `infer` gives."""
        from stylestream.temporal.cpu import CpuTemporal
        return CpuTemporal(strength)

    @property
    def frames_at_once(self) -> int:
        """How many frames `infer` may work on at once (from different threads)."""
        return self.engine.concurrent_calls

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The frame as `infer` and the temporal method take it: on the CPU, the frame itself
        (so preparing it again, in another thread, costs nothing)."""
        return frame

    def infer(self, frame: np.ndarray) -> np.ndarray:
        """The engine's part: the frame stylized at the processing size (uint8, its own array).
        Frames are independent here, so a video job may run several at once."""
        h, w = frame.shape[:2]
        pw, ph, pad_r, pad_b = processing_plan(w, h, self.max_size, self.engine.multiple)
        small = frame if (pw, ph) == (w, h) else cv2.resize(frame, (pw, ph), interpolation=cv2.INTER_AREA)
        if pad_r or pad_b:
            small = cv2.copyMakeBorder(small, 0, pad_b, 0, pad_r, cv2.BORDER_REFLECT_101)
        batch = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32)
        batch *= 1.0 / 255.0
        planes = self.engine(batch)[0][:, :ph, :pw]
        if planes.shape[0] != 3:
            raise UserError(f"{self.engine.path}: gives {planes.shape[0]}-channel pictures; a style model gives "
                            "3 (RGB)")
        # Scale, round and saturate each plane to uint8 in one OpenCV pass, then interleave:
        # 0.3 ms at 640×272 against numpy's 1.6 ms for the same on the transposed array.
        return cv2.merge([cv2.multiply(plane, 255.0, dtype=cv2.CV_8U) for plane in planes])

    def deliver(self, styled: np.ndarray, frame: np.ndarray, scale_back: bool = True) -> np.ndarray:
        """The output for `frame` from its stylization at the processing size (blended or not):
        scaled back to the frame's size, then --strength and --preserve-color. `scale_back=False`
        may leave it at the processing size, for a sink that scales it while converting colours
        anyway (the video file sink)."""
        h, w = frame.shape[:2]
        # Scaled down always: a sink only crops a larger picture (by the odd row or column).
        larger = styled.shape[0] > h or styled.shape[1] > w
        if styled.shape[:2] != (h, w) and (scale_back or self.mixes_source or larger):
            styled = cv2.resize(styled, (w, h), interpolation=cv2.INTER_LINEAR)
        return finish(styled, frame, self.strength, self.keep_color)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Stylizes one frame on its own."""
        return self.deliver(self.infer(self.prepare(frame)), frame)

"""Region stylization: a style on one part of the frame only, or one style on the person and
another on the background.

A weight map says how much of each output pixel comes from the --style's output; the rest
comes from the source, or from the --background-style's output. The map is the person mask
(`--region person`), its complement (`--region background`, or the person's part when two
styles share the frame), or a picture the user gives (`--mask`, white = stylized).

On video the person mask is made stable with the temporal method's own optical flow, at the
segmentation net's resolution: the previous mask is warped onto the current frame and blended
with the net's new mask where the flow is trusted (the consistency mask the style blend uses),

    mask = m·h·warped + (1 − m·h)·new        h = MASK_HISTORY,

so the seam follows the person instead of trembling with the net's per-frame noise. The net runs
beside stylization (the video job's decode thread, the live loop's flow thread); composition is
at the output size, with the seam feathered by a Gaussian.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stylestream.errors import UserError

if TYPE_CHECKING:       # the API reads this module's constants without loading OpenCV
    from stylestream.stylizer import Stylizer
    from stylestream.temporal import Motion, Temporal

REGIONS = ("person", "background")
# --feather: the seam's softening, in output pixels (the Gaussian's σ is half of it). The net's
# mask, upscaled from 256×144, already ramps over about 3 px of a 640×360 frame.
DEFAULT_FEATHER = 4.0
# The weight of the flow-warped previous mask where the flow is trusted. On person.mp4's first
# 60 frames (benchmarks/regions.py) the seam's motion-compensated change is 2.06× lower than the
# per-frame mask's with 0.8, 2.30× with 0.9.
MASK_HISTORY = 0.9
# Weights this close to 0 or 1 are made exactly 0 or 1: the net's far background (1e-4 and
# the like) would otherwise tint the source by a level, and the far inside of the region
# would keep a trace of the source.
WEIGHT_SNAP = 1 / 255
# A frame wider than this (width / height) gets the landscape net (256×144), others the square one.
LANDSCAPE_ASPECT = 4 / 3


def segmentation_variant(width: int, height: int) -> str:
    """The bundled net whose input shape is nearer the frame's (in log aspect)."""
    return "landscape" if width > LANDSCAPE_ASPECT * height else "square"


def read_mask(path: str | Path) -> np.ndarray:
    """A user's mask picture as a float32 H×W weight in [0, 1] (its luma; white = stylized)."""
    import cv2

    from stylestream.imagefile import read_image

    rgb, _, _ = read_image(Path(path))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)


def _host(field) -> np.ndarray:
    """A motion field as numpy H×W(×C): the CPU's arrays as they are; a device tensor
    (1×C×H×W, the GPU's temporal method) copied down."""
    if isinstance(field, np.ndarray):
        return field
    array = field[0].float().permute(1, 2, 0).cpu().numpy()
    return array[..., 0] if array.shape[2] == 1 else array


class MaskTracker:
    """Person masks for the frames of one stream, at the segmentation net's resolution.
    `segment` (any thread) runs the net on a frame; `stabilize` (in frame order) blends the
    flow-warped previous mask in where the flow is trusted. The net is picked by the first
    frame's shape."""

    def __init__(self, runtime: str = "auto", history: float = MASK_HISTORY, stabilized: bool = True):
        self.runtime, self.history, self.stabilized = runtime, history, stabilized
        self.segmenter = None
        self.previous: np.ndarray | None = None
        self.segment_seconds = 0.0
        self.segmented = self.stabilized_frames = 0
        self._lock = threading.Lock()

    def _segmenter(self, width: int, height: int):
        with self._lock:
            if self.segmenter is None:
                from stylestream.segmentation import PersonSegmenter

                self.segmenter = PersonSegmenter(segmentation_variant(width, height), self.runtime)
            return self.segmenter

    def segment(self, frame: np.ndarray) -> np.ndarray:
        """The net's person probability for an RGB frame, at the net's input size (its own array)."""
        segmenter = self._segmenter(frame.shape[1], frame.shape[0])
        t0 = time.perf_counter()
        mask = segmenter.infer(segmenter.preprocess(frame))[0, 0].copy()
        self.segment_seconds += time.perf_counter() - t0
        self.segmented += 1
        return mask

    def stabilize(self, mask: np.ndarray, motion: Motion | None) -> np.ndarray:
        """The frame's mask: the new one blended with the previous one warped along `motion`
        where it is trusted; the new one alone at a cut, the first frame, or without motion."""
        import cv2

        previous, self.previous = self.previous, mask
        if not self.stabilized or motion is None or motion.cut or motion.backward is None \
                or previous is None or previous.shape != mask.shape:
            return mask
        from stylestream.temporal.cpu import warp

        h, w = mask.shape
        warped = warp(previous, _host(motion.backward), cv2.INTER_LINEAR)
        trusted = cv2.resize(_host(motion.mask), (w, h), interpolation=cv2.INTER_LINEAR)
        keep = trusted * np.float32(self.history)
        self.previous = out = cv2.blendLinear(warped, mask, keep, 1.0 - keep)
        self.stabilized_frames += 1
        return out

    def reset(self) -> None:
        self.previous = None

    def describe(self) -> dict:
        """What --json reports: the model and its cost per frame."""
        about = self.segmenter.describe() if self.segmenter is not None else {}
        ms = 1000 * self.segment_seconds / self.segmented if self.segmented else 0.0
        return {**about, "ms_per_frame": round(ms, 2), "frames": self.segmented,
                "stabilized_frames": self.stabilized_frames}


def seam_weight(mask: np.ndarray, width: int, height: int, feather: float, invert: bool = False) -> np.ndarray:
    """The weight of the stylized frame at each output pixel: `mask` (any size) resized to the
    output, inverted for the background, the seam blurred over `feather` px, and weights within
    WEIGHT_SNAP of 0 or 1 made exact."""
    import cv2

    weight = mask if mask.shape == (height, width) else \
        cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width)
    if invert:
        weight = 1.0 - weight
    if feather > 0:
        weight = cv2.GaussianBlur(weight, (0, 0), feather / 2, borderType=cv2.BORDER_REPLICATE)
    weight = np.clip((weight - WEIGHT_SNAP) / (1 - 2 * WEIGHT_SNAP), 0.0, 1.0).astype(np.float32, copy=False)
    return weight.reshape(height, width)


def compose(stylized: np.ndarray, other: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """weight·stylized + (1 − weight)·other, rounded to uint8: `other` itself where weight is 0."""
    import cv2

    # blendLinear divides by the weights' sum plus 1e-5: a 255 becomes 254.997, still 255 once rounded.
    return cv2.blendLinear(stylized, other, weight, 1.0 - weight)


@dataclass
class Regions:
    """What a job stylizes where. `tracker`: person masks (`invert` for the background);
    `fixed`: a user's mask instead. `background`: the style outside the region (None: the
    source), with its own temporal history (`background_temporal`, blended along the
    main style's motion: one flow for both)."""
    tracker: MaskTracker | None = None
    fixed: np.ndarray | None = None
    invert: bool = False
    feather: float = DEFAULT_FEATHER
    background: Stylizer | None = None
    background_temporal: Temporal | None = None
    region: str | None = None
    compose_seconds: float = field(default=0.0, repr=False)
    composed: int = field(default=0, repr=False)
    last_mask: np.ndarray | None = field(default=None, repr=False)   # the latest frame's mask, for figures

    def start(self, temporal_strength: float | None) -> None:
        """Before a stream: the background style gets its own temporal history when the main
        style has one (both blend along the same motion)."""
        self.reset()
        if self.background is not None and temporal_strength is not None:
            self.background_temporal = self.background.temporal(temporal_strength)

    def segment(self, frame: np.ndarray) -> np.ndarray | None:
        """The net's mask for a frame (None with a fixed mask): the stage that runs beside inference."""
        return None if self.tracker is None else self.tracker.segment(frame)

    def weight(self, raw: np.ndarray | None, motion: Motion | None, width: int, height: int) -> np.ndarray:
        """The frame's seam weight at the output size, from its `segment` result (in frame order)."""
        mask = self.fixed if self.tracker is None else self.tracker.stabilize(raw, motion)
        self.last_mask = mask
        return seam_weight(mask, width, height, self.feather, self.invert)

    def other(self, frame: np.ndarray, motion: Motion | None, styled=None) -> np.ndarray:
        """What shows outside the region at the frame's size: the source, or the background
        style's output (`styled`: its inference, when it already ran)."""
        style = self.background
        if style is None:
            return frame
        if styled is None:
            styled = style.infer(style.prepare(frame))
        if self.background_temporal is not None and motion is not None:
            styled = self.background_temporal.blend(styled, motion)
        return style.deliver(styled, frame)

    def finish(self, stylized: np.ndarray, frame: np.ndarray, raw: np.ndarray | None, motion: Motion | None,
               background=None) -> np.ndarray:
        """The output frame: `stylized` (at the frame's size) inside the region, `other` outside."""
        import cv2

        outside = self.other(frame, motion, background)
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        if stylized.shape[:2] != (h, w):
            stylized = cv2.resize(stylized, (w, h), interpolation=cv2.INTER_LINEAR)
        out = compose(stylized, outside, self.weight(raw, motion, w, h))
        self.compose_seconds += time.perf_counter() - t0
        self.composed += 1
        return out

    def reset(self) -> None:
        if self.tracker is not None:
            self.tracker.reset()
        if self.background_temporal is not None:
            self.background_temporal.reset()

    def describe(self) -> dict:
        """The --json summary's `regions` entry."""
        out = {"region": self.region, "feather": self.feather,
               "background_style": self.background.engine.name if self.background is not None else None,
               "mask": "file" if self.fixed is not None else "person segmentation",
               "compose_ms_per_frame": round(1000 * self.compose_seconds / self.composed, 2) if self.composed else 0.0}
        if self.tracker is not None:
            out["segmentation"] = self.tracker.describe()
        return out


def check_feather(feather: float) -> float:
    if not 0 <= feather <= 1000:
        raise UserError("--feather must be between 0 and 1000 pixels")
    return float(feather)

"""Temporal consistency with optical flow (after Ruder et al. 2016).

Per-frame stylization flickers. For each new frame we estimate optical flow between the
previous and the current *input* frames, warp the previous *output* onto the current
frame, and blend it in where the flow can be trusted:

    out = m·α·warped + (1 − m·α)·stylized

m is 0 where forward and backward flow disagree (occlusions, disocclusions) and on
motion boundaries, 1 elsewhere; α is --temporal-strength. A scene cut resets the history.

Blending alone softens the picture: the warped frame is resampled (a little blur each time,
compounding through the recursion) and two textures that are not perfectly aligned average
out. So the blend's fine detail (above a σ = 1 px Gaussian) is amplified until its local
Laplacian magnitude matches the freshly stylized frame's — the detail stays the stable,
warped one, only its contrast is restored.

`Motion` is computed from input frames alone, so it runs in the decoder's thread,
concurrently with inference; `TemporalBlender` applies it after inference.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

# Flow is estimated with the longer side at most FLOW_SIDE pixels, by DIS (MEDIUM preset)
# with patches every PATCH_STRIDE pixels instead of MEDIUM's 3. Offline sweep on bikes.mp4
# (compact starry, cached per-frame outputs, gain cap 1.45, x264 veryfast; the cost is both
# flows and the mask on one core):
# 320 px stride 3, 9.6 ms, 0.513× of the per-frame warping error; 400 px stride 4, 12.5 ms,
# 0.488×; 400 px stride 3, 16 ms, 0.489×; DIS's finest scale 0 at 320 px, 36 ms, 0.453×.
# Stride 5 is cheaper still (10.8 ms, 0.492×) but trusts pixels a moving object uncovers.
FLOW_SIDE = 400
PATCH_STRIDE = 4
# Within that, 12 patch descent steps instead of MEDIUM's 25. `benchmarks/temporal.py --arch
# compact` (x264 superfast, gain cap 1.42), warping error × per-frame and both flows' cost on
# one core: 25 steps 0.493×, 9.7 ms; 12 steps 0.492×, 8.9 ms; 8 steps 0.499×; 5 steps 0.516×.
# Fewer variational refinements cost more accuracy than they save: 3 on the forward flow,
# 0.495× for 8.1 ms; 0 forward, 0.508×; 3 on both, 0.506×.
DESCENT_ITERATIONS = 12
# A new shot leaves almost no consistent pixel: on bikes.mp4's five cuts 0.6–8.6 % of the
# mask is trusted. Fast motion leaves far more (43–58 % on its fastest frames), and is still
# worth blending where the mask trusts it: a reset there costs stability for nothing.
CUT_TRUSTED = 0.3        # a frame with a smaller trusted fraction starts a new shot


@dataclass
class Motion:
    """How the current frame relates to the previous one, at flow resolution."""
    backward: np.ndarray | None     # H×W×2: for each current pixel, offset to where it was before
    mask: np.ndarray | None         # H×W float32 in [0, 1]: 1 where that offset is trusted
    cut: bool                       # no usable history (first frame, scene cut, resume)


def _gray(frame: np.ndarray, max_side: int = FLOW_SIDE) -> np.ndarray:
    h, w = frame.shape[:2]
    s = min(1.0, max_side / max(h, w))
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)      # first: then the resize has one channel
    return cv2.resize(gray, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA) \
        if s < 1.0 else gray


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """h×w×2 float32 of each pixel's (x, y): remap's absolute map is this plus the flow."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([xs, ys])


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Samples `image` at x + flow(x); flow is resized to the image if needed. Cubic keeps
    stylized texture crisper than linear; smooth fields such as flow can take linear."""
    h, w = image.shape[:2]
    if flow.shape[:2] != (h, w):
        where = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.multiply(where, (w / flow.shape[1], h / flow.shape[0], 0.0, 0.0), dst=where)   # vectors to pixels here
        cv2.add(where, _pixel_grid(h, w), dst=where)
    else:
        where = cv2.add(flow, _pixel_grid(h, w))
    return cv2.remap(image, where, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def _sq_norm(field: np.ndarray) -> np.ndarray:
    """|v|² of each vector of an H×W×2 field (numpy's strided add beats cv2.split here)."""
    sq = field * field
    return sq[..., 0] + sq[..., 1]


def consistency_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """1 where forward and backward flow agree and no motion boundary lies (Ruder et al. 2016)."""
    fwd_at = warp(forward, backward, cv2.INTER_LINEAR)   # forward flow where each current pixel came from
    back_sq = _sq_norm(backward)
    # Occluded: |b + f|² > 0.01·(|b|² + |f|²) + 0.5
    disagreement = _sq_norm(backward + fwd_at) - 0.01 * (back_sq + _sq_norm(fwd_at))
    # Motion boundary: |∇b|² / 64 > 0.01·|b|² + 0.002 (a 3×3 Sobel is 8× the per-pixel slope)
    gradient_sq = _sq_norm(cv2.Sobel(backward, cv2.CV_32F, 1, 0, ksize=3)) \
        + _sq_norm(cv2.Sobel(backward, cv2.CV_32F, 0, 1, ksize=3))
    boundary = gradient_sq / 64 - 0.01 * back_sq
    trusted = cv2.bitwise_and(cv2.compare(disagreement, 0.5, cv2.CMP_LE), cv2.compare(boundary, 0.002, cv2.CMP_LE))
    # Erode a little: flow is least reliable right next to an occlusion.
    trusted = cv2.erode(trusted, np.ones((3, 3), np.uint8))
    return cv2.multiply(trusted, 1 / 255, dtype=cv2.CV_32F)


def dis_flow(patch_stride: int = PATCH_STRIDE, descent_iterations: int = DESCENT_ITERATIONS):
    """flow(a, b): DIS optical flow from gray frame a to gray frame b, H×W×2 float32."""
    # MEDIUM (finer scales, more descent) follows fast small objects that FAST misses.
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setPatchStride(patch_stride)
    dis.setGradientDescentIterations(descent_iterations)
    return lambda a, b: dis.calc(a, b, None)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farnebäck's polynomial-expansion flow: slow, but no relative of DIS (for the metric)."""
    return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=5, winsize=21, iterations=5,
                                        poly_n=7, poly_sigma=1.5, flags=0)


class FlowEstimator:
    """Stateful: feed input frames in order; returns the Motion of each relative to the last.
    `flow(a, b)`: optical flow from gray frame a to b, at most `max_side` px (dis_flow())."""

    def __init__(self, max_side: int = FLOW_SIDE,
                 flow: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None):
        self.flow = flow or dis_flow()
        self.max_side = max_side
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous = None

    def __call__(self, frame: np.ndarray) -> Motion:
        gray = _gray(frame, self.max_side)
        prev, self.previous = self.previous, gray
        if prev is None or prev.shape != gray.shape:
            return Motion(None, None, True)
        backward, forward = self.flow(gray, prev), self.flow(prev, gray)
        mask = consistency_mask(backward, forward)
        cut = float(mask.mean()) < CUT_TRUSTED
        return Motion(backward, mask, cut)


def _detail(image: np.ndarray) -> np.ndarray:
    """Local sharpness: mean |Laplacian| of luma over a 9×9 window."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.blur(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), (9, 9))


class TemporalBlender:
    """Keeps the previous output and blends its warped copy into each new one."""

    DETAIL_SIGMA = 1.0      # px: what counts as fine detail
    # Never amplify detail more than this. The gain also amplifies what flicker is left in the
    # blend: on bikes.mp4 (starry, strength 0.8) a cap of 1.5 instead of 2.5 took the warping
    # error from 0.515× to 0.491× of per-frame (full net) and 0.547× to 0.515× (compact) for
    # 2–3 % of sharpness. With the 400 px flow and superfast x264, `benchmarks/temporal.py
    # --arch compact` gives 0.499× at 96.2 % sharpness with a cap of 1.45, 0.493× at 95.6 %
    # with 1.42 and 0.488× at 95.2 % with 1.4: 1.42 keeps both the ≤ 0.5× and the ≥ 95 %
    # line with some room.
    MAX_GAIN = 1.42

    def __init__(self, strength: float = 0.8, keep_detail: bool = True):
        if not 0.0 <= strength <= 1.0:
            raise ValueError("--temporal-strength must be between 0 and 1")
        self.strength, self.keep_detail = strength, keep_detail
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous = None

    def __call__(self, stylized: np.ndarray, motion: Motion) -> np.ndarray:
        prev, h, w = self.previous, stylized.shape[0], stylized.shape[1]
        if motion.cut or prev is None or prev.shape != stylized.shape:
            out = stylized
        else:
            warped = warp(prev, motion.backward)
            m = cv2.resize(motion.mask * np.float32(self.strength), (w, h), interpolation=cv2.INTER_LINEAR)
            out = cv2.blendLinear(warped, stylized, m, 1.0 - m)
            if self.keep_detail:
                low = cv2.GaussianBlur(out, (0, 0), self.DETAIL_SIGMA)
                gain = _detail(out)     # in place from here: OpenCV's passes beat numpy temporaries
                cv2.add(gain, 1e-2, dst=gain)
                cv2.divide(_detail(stylized), gain, dst=gain)
                cv2.max(gain, 1.0, dst=gain)
                cv2.min(gain, self.MAX_GAIN, dst=gain)
                # low + gain·(out − low), in one pass that rounds and saturates to uint8.
                out = cv2.blendLinear(out, low, gain, 1.0 - gain)
        self.previous = out
        return out

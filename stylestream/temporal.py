"""Temporal consistency with optical flow (after Ruder et al. 2016).

Per-frame stylization flickers. For each new frame we estimate optical flow between the
previous and the current *input* frames, warp the previous *output* onto the current
frame, and blend it in where the flow can be trusted:

    out = m·α·warped + (1 − m·α)·stylized

m is 0 where forward and backward flow disagree (occlusions, disocclusions) and on
motion boundaries, 1 elsewhere; α is --temporal-strength. A scene cut resets the history.

Blending alone softens the picture: the warped frame is resampled (a little blur each time,
compounding through the recursion, unless a fast-moving pixel is copied whole; see
TemporalBlender) and two textures that are not perfectly aligned average out. So the
blend's fine detail (above a σ = 1 px Gaussian) is amplified until its local Laplacian
magnitude matches the freshly stylized frame's, up to a cap — the detail stays the stable,
warped one, only its contrast is restored.

`Motion` is computed from input frames alone, so it runs in the decoder's thread,
concurrently with inference; `TemporalBlender` applies it after inference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

# Flow is estimated with the longer side at most FLOW_SIDE pixels, by DIS (MEDIUM preset)
# with patches every PATCH_STRIDE pixels instead of MEDIUM's 3, 12 patch descent steps
# instead of 25 and 3 variational refinements instead of 5. `python benchmarks/temporal_sweep.py
# --flow-side 256 320 400 --refinements 3 5` in session 8, when both flows were refined alike
# (bikes.mp4, compact starry, the blend below; warping error × per-frame at × sharpness, then
# both flows and the mask on one core):
#   256 px: 0.502× at 95.6 %, 4.1 ms; 5 refinements 0.492×, 4.8 ms
#   320 px: 0.483× at 96.4 %, 5.7 ms; 5 refinements 0.481×, 6.6 ms
#   400 px: 0.461× at 96.7 %, 9.6 ms; 5 refinements 0.453×, 11.2 ms
# Stride 5 at 320 px saved 0.8 ms for 0.010 more (an earlier form of the blend); 12 descent
# steps were as good as 25 (session 6: 0.492× against 0.493×) for 0.8 ms less.
FLOW_SIDE = 320
PATCH_STRIDE = 4
DESCENT_ITERATIONS = 12
REFINEMENT_ITERATIONS = 3
# The forward flow only checks the backward one (the mask), and one refinement does that
# about as well as three for 0.6 ms less: `--forward-refinements 1 3` gives bikes 0.484× at
# 96.2 % against 0.483× at 96.5 % (none at all: 0.490×), bigbuckbunny 0.510× either way.
FORWARD_REFINEMENT_ITERATIONS = 1
# A new shot leaves almost no consistent pixel: on bikes.mp4's five cuts 0.6–8.6 % of the
# mask is trusted. Fast motion leaves far more (43–58 % on its fastest frames), and is still
# worth blending where the mask trusts it: a reset there costs stability for nothing.
CUT_TRUSTED = 0.3        # a frame with a smaller trusted fraction starts a new shot
# OpenCV's DIS refuses a flow image with both sides under 12 px and, with a side under 16 px
# and the other at 47 px or more, crashes the process (SIGSEGV; 12×48 to 15×256 all do).
# Smaller frames get no flow: each is stylized on its own.
MIN_FLOW_SIDE = 16


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


def offsets(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    """The flow as an h×w×2 float32 field of offsets in pixels of that size, for cv2.remap with
    WARP_RELATIVE_MAP (which adds each pixel's own position: no grid to add)."""
    if flow.shape[:2] == (h, w):
        return flow
    # Scaling first touches the flow's few pixels instead of h×w; resizing is linear anyway.
    scaled = cv2.multiply(flow, (w / flow.shape[1], h / flow.shape[0], 0.0, 0.0))
    return cv2.resize(scaled, (w, h), interpolation=cv2.INTER_LINEAR)


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Samples `image` at x + flow(x). Cubic keeps stylized texture crisper than linear;
    smooth fields such as flow can take linear."""
    return cv2.remap(image, offsets(flow, image.shape[0], image.shape[1]), None,
                     interpolation | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _sq_norm(field: np.ndarray) -> np.ndarray:
    """|v|² of each vector of an H×W×2 field (numpy's strided add beats cv2.split here)."""
    sq = field * field
    return sq[..., 0] + sq[..., 1]


def consistency_mask(backward: np.ndarray, forward: np.ndarray, erode: bool = False) -> np.ndarray:
    """1 where forward and backward flow agree and no motion boundary lies (Ruder et al. 2016).
    `erode`: distrust a pixel's worth around every untrusted one, as `eval temporal` always has."""
    fwd_at = warp(forward, backward, cv2.INTER_LINEAR)   # forward flow where each current pixel came from
    back_sq = _sq_norm(backward)
    # Occluded: |b + f|² > 0.01·(|b|² + |f|²) + 0.5
    disagreement = _sq_norm(backward + fwd_at) - 0.01 * (back_sq + _sq_norm(fwd_at))
    # Motion boundary: |∇b|² / 64 > 0.01·|b|² + 0.002 (a 3×3 Sobel is 8× the per-pixel slope)
    gradient_sq = _sq_norm(cv2.Sobel(backward, cv2.CV_32F, 1, 0, ksize=3)) \
        + _sq_norm(cv2.Sobel(backward, cv2.CV_32F, 0, 1, ksize=3))
    boundary = gradient_sq / 64 - 0.01 * back_sq
    trusted = cv2.bitwise_and(cv2.compare(disagreement, 0.5, cv2.CMP_LE), cv2.compare(boundary, 0.002, cv2.CMP_LE))
    # The blend's mask: a 3×3 median drops lone trusted pixels inside an occlusion (and lone
    # distrusted ones elsewhere). Eroding also distrusts a rim around every occlusion, and the
    # unblended rim flickers: bikes 0.502× against 0.488×.
    trusted = cv2.erode(trusted, np.ones((3, 3), np.uint8)) if erode else cv2.medianBlur(trusted, 3)
    return cv2.multiply(trusted, 1 / 255, dtype=cv2.CV_32F)


def dis_flow(patch_stride: int = PATCH_STRIDE, descent_iterations: int = DESCENT_ITERATIONS,
             refinement_iterations: int = REFINEMENT_ITERATIONS):
    """flow(a, b): DIS optical flow from gray frame a to gray frame b, H×W×2 float32."""
    # MEDIUM (finer scales, more descent) follows fast small objects that FAST misses.
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setPatchStride(patch_stride)
    dis.setGradientDescentIterations(descent_iterations)
    dis.setVariationalRefinementIterations(refinement_iterations)
    return lambda a, b: dis.calc(a, b, None)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farnebäck's polynomial-expansion flow: slow, but no relative of DIS (for the metric)."""
    return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=5, winsize=21, iterations=5,
                                        poly_n=7, poly_sigma=1.5, flags=0)


class FlowEstimator:
    """Stateful: feed input frames in order; returns the Motion of each relative to the last.
    `flow(a, b)`: optical flow from gray frame a to b, at most `max_side` px (dis_flow());
    `forward_flow` the one for the forward direction, which only checks it: `flow` if that is
    given, else DIS with FORWARD_REFINEMENT_ITERATIONS."""

    def __init__(self, max_side: int = FLOW_SIDE, flow: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 erode_mask: bool = False, forward_flow: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None):
        self.flow = flow or dis_flow()
        self.forward_flow = forward_flow or flow or dis_flow(refinement_iterations=FORWARD_REFINEMENT_ITERATIONS)
        self.max_side, self.erode_mask = max_side, erode_mask
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous = None

    def __call__(self, frame: np.ndarray) -> Motion:
        gray = _gray(frame, self.max_side)
        prev, self.previous = self.previous, gray
        if prev is None or prev.shape != gray.shape or min(gray.shape) < MIN_FLOW_SIDE:
            return Motion(None, None, True)
        backward, forward = self.flow(gray, prev), self.forward_flow(prev, gray)
        mask = consistency_mask(backward, forward, self.erode_mask)
        cut = float(mask.mean()) < CUT_TRUSTED
        return Motion(backward, mask, cut)


def _detail(image: np.ndarray) -> np.ndarray:
    """Local sharpness: mean |Laplacian| of luma over a 9×9 window."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.blur(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), (9, 9))


class TemporalBlender:
    """Keeps the previous output and blends its warped copy into each new one."""

    DETAIL_SIGMA = 1.0      # px: what counts as fine detail
    # Never amplify detail more than this: the gain also amplifies what flicker is left in
    # the blend. Offline sweep on bikes.mp4 (compact starry, strength 0.8, the sink's x264),
    # with the warp below: a cap of 1.3 gives 0.476× of the per-frame warping error at 95.3 %
    # of its sharpness, 1.33 0.483× at 96.4 %.
    MAX_GAIN = 1.33
    # How the history is warped depends on how fast each pixel moves. Cubic resampling keeps
    # sub-pixel drift exact, but every resample softens the texture a little, compounding
    # through the recursion, and the gain that restores it re-amplifies flicker. Where the
    # scene moves a pixel or more a frame the flow's own error outweighs that exactness, so
    # the sample point is rounded to a whole pixel and the pixel copied as it is. Below 0.5 px
    # a frame the point is kept, above 1.5 px rounded, and in between its fraction shrinks
    # linearly. Same sweep, against cubic everywhere: bikes 0.483× at 96.4 % with a 320 px
    # flow, where cubic everywhere needs 400 px (and a cap of 1.42) for 0.487× at 95.2 %;
    # bigbuckbunny (mostly sub-pixel drift) 0.523× at 93.7 %, about as cubic everywhere with
    # the 400 px flow (0.548× at 95.2 %). Nearest-neighbour everywhere suits bikes (0.487× at
    # 97.4 %) but leaves slowly drifting texture stuck: bigbuckbunny 0.64× at 95 %. Mixing a
    # nearest and a cubic warp by speed scored as rounding does, for one remap more.
    SNAP_FROM, SNAP_RAMP = 0.5, 1.0     # px a frame where rounding starts; ramp width

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
            warped = self._warp_history(prev, motion.backward)
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

    def _warp_history(self, prev: np.ndarray, backward: np.ndarray) -> np.ndarray:
        h, w = prev.shape[:2]
        # How fast each pixel moves, in pixels of this frame; computed at the flow's size.
        speed = cv2.sqrt(_sq_norm(backward))
        snap = np.clip((speed * np.float32(w / backward.shape[1]) - self.SNAP_FROM) / self.SNAP_RAMP, 0, 1)
        snap = cv2.resize(snap, (w, h), interpolation=cv2.INTER_LINEAR)
        # Cubic interpolation at a whole-pixel point returns that pixel unchanged: a copy. The
        # offsets are rounded, not the points: a pixel's own position is whole already.
        # (blendLinear divides by the weights' sum plus 1e-5: offsets shrink by 0.001 %.)
        moved = offsets(backward, h, w)
        moved = cv2.blendLinear(np.rint(moved), moved, snap, 1.0 - snap)
        return cv2.remap(prev, moved, None, cv2.INTER_CUBIC | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_REPLICATE)

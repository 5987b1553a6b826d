"""The temporal method on the CPU: OpenCV's DIS optical flow, numpy and OpenCV arithmetic.

Frames are H×W×3 uint8 RGB arrays; `estimate` takes source frames at any size, `blend` the
stylized ones at the processing size.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from stylestream.temporal.motion import Motion
from stylestream.temporal.params import CPU_PARAMS, DEFAULT_STRENGTH, TemporalParams, check_strength
from stylestream.temporal.rules import boundary, disagreement, flow_size, snap_ramp

Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _gray(frame: np.ndarray, params: TemporalParams) -> np.ndarray:
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)      # first: then the resize has one channel
    size = flow_size(frame.shape[1], frame.shape[0], params)
    return gray if size is None else cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


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
    """|v|² of each vector of an H×W×2 field (numpy's strided add beats cv2.split for this)."""
    sq = field * field
    return sq[..., 0] + sq[..., 1]


def consistency_mask(backward: np.ndarray, forward: np.ndarray, params: TemporalParams = CPU_PARAMS) -> np.ndarray:
    """H×W float32: 1 where forward and backward flow agree and no motion boundary lies, 0
    elsewhere (Ruder et al. 2016), cleaned by a 3×3 median or, with params.erode_mask, eroded."""
    fwd_at = warp(forward, backward, cv2.INTER_LINEAR)   # forward flow where each current pixel came from
    back_sq = _sq_norm(backward)
    disagree = disagreement(_sq_norm(backward + fwd_at), back_sq, _sq_norm(fwd_at), params)
    sobel_sq = _sq_norm(cv2.Sobel(backward, cv2.CV_32F, 1, 0, ksize=3)) \
        + _sq_norm(cv2.Sobel(backward, cv2.CV_32F, 0, 1, ksize=3))
    trusted = cv2.bitwise_and(cv2.compare(disagree, params.occlusion_absolute, cv2.CMP_LE),
                              cv2.compare(boundary(sobel_sq, back_sq, params), params.boundary_absolute, cv2.CMP_LE))
    trusted = cv2.erode(trusted, np.ones((3, 3), np.uint8)) if params.erode_mask else cv2.medianBlur(trusted, 3)
    return cv2.multiply(trusted, 1 / 255, dtype=cv2.CV_32F)


def dis_flow(params: TemporalParams = CPU_PARAMS, refinement_iterations: int | None = None) -> Flow:
    """flow(a, b): DIS optical flow from gray frame a to gray frame b, H×W×2 float32, with
    params' patch stride and iterations (`refinement_iterations` overrides theirs)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setPatchStride(params.patch_stride)
    dis.setGradientDescentIterations(params.descent_iterations)
    dis.setVariationalRefinementIterations(
        params.refinement_iterations if refinement_iterations is None else refinement_iterations)
    return lambda a, b: dis.calc(a, b, None)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farnebäck's polynomial-expansion flow: slow, but no relative of DIS (for the metric)."""
    return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=5, winsize=21, iterations=5,
                                        poly_n=7, poly_sigma=1.5, flags=0)


def _detail(image: np.ndarray, params: TemporalParams) -> np.ndarray:
    """Local sharpness: mean |Laplacian| of luma over a detail_window² window."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.blur(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), (params.detail_window, params.detail_window))


class CpuTemporal:
    """The temporal method with OpenCV and numpy. `estimate` keeps the previous source frame (at
    flow size), `blend` the previous output; each is called once per frame, in frame order.

    `flow(a, b)`: optical flow from gray frame a to b (dis_flow(params) when not given);
    `forward_flow` the one for the forward direction, which only checks the backward one for
    the mask: `flow` if that is given, else DIS with params.forward_refinement_iterations."""

    # estimate() reads source frames only, so it may run in another thread, beside inference.
    concurrent = True

    def __init__(self, strength: float = DEFAULT_STRENGTH, params: TemporalParams = CPU_PARAMS,
                 flow: Flow | None = None, forward_flow: Flow | None = None):
        check_strength(strength)
        self.strength, self.params = strength, params
        self.flow = flow or dis_flow(params)
        self.forward_flow = forward_flow or flow or dis_flow(params, params.forward_refinement_iterations)
        self.previous_gray: np.ndarray | None = None
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous_gray = self.previous = None

    def estimate(self, frame: np.ndarray) -> Motion:
        gray = _gray(frame, self.params)
        prev, self.previous_gray = self.previous_gray, gray
        if prev is None or prev.shape != gray.shape or min(gray.shape) < self.params.min_flow_side:
            return Motion(None, None, True)
        backward, forward = self.flow(gray, prev), self.forward_flow(prev, gray)
        mask = consistency_mask(backward, forward, self.params)
        cut = float(mask.mean()) < self.params.cut_trusted
        return Motion(backward, mask, cut)

    def blend(self, stylized: np.ndarray, motion: Motion) -> np.ndarray:
        prev, h, w, p = self.previous, stylized.shape[0], stylized.shape[1], self.params
        if motion.cut or prev is None or prev.shape != stylized.shape:
            out = stylized
        else:
            warped = self._warp_history(prev, motion.backward)
            m = cv2.resize(motion.mask * np.float32(self.strength), (w, h), interpolation=cv2.INTER_LINEAR)
            out = cv2.blendLinear(warped, stylized, m, 1.0 - m)
            if p.keep_detail:
                low = cv2.GaussianBlur(out, (0, 0), p.detail_sigma)
                gain = _detail(out, p)     # in place from here: OpenCV's passes beat numpy temporaries
                cv2.add(gain, p.detail_floor, dst=gain)
                cv2.divide(_detail(stylized, p), gain, dst=gain)
                cv2.max(gain, 1.0, dst=gain)
                cv2.min(gain, p.max_gain, dst=gain)
                # low + gain·(out − low), in one pass that rounds and saturates to uint8.
                out = cv2.blendLinear(out, low, gain, 1.0 - gain)
        self.previous = out
        return out

    def _warp_history(self, prev: np.ndarray, backward: np.ndarray) -> np.ndarray:
        """The previous output moved along the flow: cubic resampling where a pixel drifts
        slowly, a whole-pixel copy where it moves fast (params.snap_from, snap_ramp)."""
        h, w = prev.shape[:2]
        # How fast each pixel moves, in pixels of this frame; computed at the flow's size.
        speed = cv2.sqrt(_sq_norm(backward))
        snap = np.clip(snap_ramp(speed * np.float32(w / backward.shape[1]), self.params), 0, 1)
        snap = cv2.resize(snap, (w, h), interpolation=cv2.INTER_LINEAR)
        # Cubic interpolation at a whole-pixel point returns that pixel unchanged: a copy. The
        # offsets are rounded, not the points: a pixel's own position is whole already.
        # (blendLinear divides by the weights' sum plus 1e-5: offsets shrink by 0.001 %.)
        moved = offsets(backward, h, w)
        moved = cv2.blendLinear(np.rint(moved), moved, snap, 1.0 - snap)
        return cv2.remap(prev, moved, None, cv2.INTER_CUBIC | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_REPLICATE)

"""Temporal consistency on the GPU: the same method as stylestream.temporal, in PyTorch.

OpenCV's DIS flow runs on the CPU only, and a 1080p frame would cross the bus twice to use
it. Here the flow is a coarse-to-fine dense Lucas–Kanade (Gaussian-weighted structure
tensor, a few warping iterations per pyramid level), and the occlusion mask, warp and
detail-keeping blend follow temporal.py formula for formula. Everything stays on the
device, and nothing waits on the host: a scene cut is decided inside the blend weight
rather than by reading a flag back.

Frames are 1×3×H×W float tensors in [0, 1] at the processing size.
"""
from __future__ import annotations

import functools
import sys

import torch
import torch.nn.functional as F

from stylestream.temporal import CUT_TRUSTED, TemporalBlender  # the CPU path's rules and constants

FLOW_SIDE = 480          # the GPU can afford a finer flow than the CPU's 320


# Kernels are made once per device: a CUDA graph capture may not copy from the host.
@functools.lru_cache(maxsize=64)
def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(device, dtype)


@functools.lru_cache(maxsize=64)
def _kernel3x3(kernel: tuple, device, dtype) -> torch.Tensor:
    return torch.tensor(kernel, dtype=dtype).view(1, 1, 3, 3).to(device)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian per channel, replicate borders."""
    k = _gaussian_kernel(sigma, x.device, x.dtype)
    c, r = x.shape[1], k.numel() // 2
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _conv3x3(x: torch.Tensor, kernel: tuple) -> torch.Tensor:
    c = x.shape[1]
    k = _kernel3x3(kernel, x.device, x.dtype).expand(c, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c)


def _sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gx = _conv3x3(x, ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)))
    gy = _conv3x3(x, ((-1, -2, -1), (0, 0, 0), (1, 2, 1)))
    return gx, gy


def _grid(h: int, w: int, device, dtype) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                            torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys])[None]          # 1×2×H×W pixel coordinates


def resize_flow(flow: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A flow field at another resolution: vectors scaled, field resampled."""
    sx, sy = w / flow.shape[-1], h / flow.shape[-2]
    flow = torch.cat([flow[:, :1] * sx, flow[:, 1:] * sy], 1)
    return F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Samples `image` at x + flow(x) (flow in pixels, 1×2×h×w, resized to the image if
    needed), replicating borders: the torch twin of temporal.warp."""
    n, _, h, w = image.shape
    if flow.shape[-2:] != (h, w):
        flow = resize_flow(flow, h, w)
    pos = _grid(h, w, image.device, image.dtype) + flow.to(image.dtype)
    # grid_sample wants [-1, 1] with align_corners=True mapping -1 → pixel 0, 1 → pixel w-1.
    gx = pos[:, 0] * (2 / max(w - 1, 1)) - 1
    gy = pos[:, 1] * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([gx, gy], dim=-1).expand(n, -1, -1, -1)
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def lucas_kanade(prev: torch.Tensor, cur: torch.Tensor, levels: int = 4, iterations: int = 3,
                 sigma: float = 2.0, eps: float = 1e-4, fill_sigma: float = 4.0, median: int = 5) -> torch.Tensor:
    """Dense flow (1×2×h×w, pixels) with cur(x) ≈ prev(x + flow(x)), like DIS's calc(cur, prev).

    prev, cur: 1×1×h×w grey in [0, 1]. Each pyramid level starts from the coarser one's flow,
    warps `prev` by it and solves the 2×2 Lucas–Kanade system for the remaining motion in a
    Gaussian window (`eps` regularizes it). Where the window holds no texture the solution
    is meaningless, so the level's flow is then refilled by normalized convolution: a blur
    weighted by the structure tensor's smaller eigenvalue, which carries motion from
    textured pixels into flat ones; a median filter removes the remaining outliers.
    """
    pyramid = [(prev, cur)]
    while len(pyramid) < levels and min(pyramid[-1][0].shape[-2:]) >= 32:
        p, c = pyramid[-1]
        pyramid.append((F.avg_pool2d(p, 2, ceil_mode=True), F.avg_pool2d(c, 2, ceil_mode=True)))
    flow = None
    for p, c in reversed(pyramid):
        h, w = p.shape[-2:]
        if flow is None:
            flow = torch.zeros(1, 2, h, w, device=p.device, dtype=p.dtype)
        else:
            flow = resize_flow(flow, h, w)
        for _ in range(iterations):
            moved = warp(p, flow)
            ix, iy = _sobel(moved)
            ix, iy = ix / 8, iy / 8                  # Sobel sums 8× the central difference
            it = moved - c
            a = gaussian_blur(torch.cat([ix * ix, ix * iy, iy * iy, ix * it, iy * it], 1), sigma)
            axx, axy, ayy, bx, by = a[:, 0:1] + eps, a[:, 1:2], a[:, 2:3] + eps, a[:, 3:4], a[:, 4:5]
            det = axx * ayy - axy * axy
            step = torch.cat([-(ayy * bx - axy * by) / det, -(axx * by - axy * bx) / det], 1)
            flow = flow + step.clamp(-2.0, 2.0)      # one linearization: trust ±2 px
        smaller_eigen = (axx + ayy) / 2 - torch.sqrt(((axx - ayy) / 2) ** 2 + axy * axy)
        confidence = (smaller_eigen - eps).clamp(min=0) + 1e-5
        flow = gaussian_blur(flow * confidence, fill_sigma) / gaussian_blur(confidence, fill_sigma)
        flow = median_filter(flow, median)
    return flow


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel median over size×size windows: removes flow outliers and keeps motion
    edges (Sun et al., "Secrets of optical flow", 2010)."""
    if size <= 1:
        return x
    n, c, h, w = x.shape
    r = size // 2
    patches = F.unfold(F.pad(x, (r, r, r, r), mode="replicate"), size)       # n × c·k² × h·w
    return patches.view(n, c, size * size, h * w).median(2).values.view(n, c, h, w)


def _sq_norm(field: torch.Tensor) -> torch.Tensor:
    return (field * field).sum(1, keepdim=True)


def consistency_mask(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """1×1×h×w: 1 where forward and backward flow agree and no motion boundary lies —
    temporal.consistency_mask's thresholds, eroded 3×3. (The CPU blend takes a 3×3 median
    instead, which leaves no unblended rim to flicker. This flow is smoother than DIS at motion
    edges and marks a narrower band where the background reappears; with the median, history
    leaked into a quarter of such a band in a test, so here the rim stays.)"""
    fwd_at = warp(forward, backward)
    back_sq = _sq_norm(backward)
    occluded = _sq_norm(backward + fwd_at) > 0.01 * (back_sq + _sq_norm(fwd_at)) + 0.5
    gx, gy = _sobel(backward)
    boundary = (_sq_norm(gx) + _sq_norm(gy)) / 64 > 0.01 * back_sq + 0.002
    mask = (~(occluded | boundary)).to(backward.dtype)
    return -F.max_pool2d(-mask, 3, stride=1, padding=1)        # erode 3×3


def luma(rgb: torch.Tensor) -> torch.Tensor:
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _detail(rgb: torch.Tensor) -> torch.Tensor:
    """Local sharpness: mean |Laplacian| of luma over a 9×9 window (temporal._detail)."""
    lap = _conv3x3(luma(rgb), ((0, 1, 0), (1, -4, 1), (0, 1, 0))).abs()
    return F.avg_pool2d(F.pad(lap, (4, 4, 4, 4), mode="replicate"), 9, stride=1)


class TorchTemporal:
    """Flow on the input frames, warp of the previous output, masked blend with detail kept:
    one object holding the history, called once per frame after inference.

    On CUDA the whole step (two pyramidal flows, mask, warp, blend: several hundred small
    kernels) is captured once as a CUDA graph and replayed per frame, since launching the
    kernels one by one from Python costs more than running them."""

    DETAIL_SIGMA = TemporalBlender.DETAIL_SIGMA
    MAX_GAIN = TemporalBlender.MAX_GAIN

    def __init__(self, strength: float = 0.8, keep_detail: bool = True, flow_side: int = FLOW_SIDE,
                 graphs: bool = True):
        if not 0.0 <= strength <= 1.0:
            raise ValueError("--temporal-strength must be between 0 and 1")
        self.strength, self.keep_detail, self.flow_side, self.graphs = strength, keep_detail, flow_side, graphs
        self.reset()

    def reset(self) -> None:
        self.previous_gray: torch.Tensor | None = None
        self.previous: torch.Tensor | None = None
        self._graph = None

    def _gray(self, source: torch.Tensor) -> torch.Tensor:
        h, w = source.shape[-2:]
        s = min(1.0, self.flow_side / max(h, w))
        g = luma(source)
        if s < 1.0:
            g = F.interpolate(g, size=(max(8, round(h * s)), max(8, round(w * s))), mode="area")
        return g

    def blend(self, prev_gray: torch.Tensor, gray: torch.Tensor, prev: torch.Tensor,
              stylized: torch.Tensor) -> torch.Tensor:
        """The consistent frame from the history (prev_gray, prev) and the new (gray, stylized)."""
        backward = lucas_kanade(prev_gray, gray)
        forward = lucas_kanade(gray, prev_gray)
        mask = consistency_mask(backward, forward)
        # A scene cut zeroes the weight on the device: no host round trip to decide it.
        keep = (mask.mean() >= CUT_TRUSTED).to(mask.dtype)
        h, w = stylized.shape[-2:]
        m = F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False) * (self.strength * keep)
        warped = self._warp_history(prev, backward)
        out = m * warped + (1 - m) * stylized
        if self.keep_detail:
            low = gaussian_blur(out, self.DETAIL_SIGMA)
            gain = (_detail(stylized) / (_detail(out) + 1e-2 / 255)).clamp(1.0, self.MAX_GAIN)
            out = low + (out - low) * gain
        return out.clamp(0, 1)

    @staticmethod
    def _warp_history(prev: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
        """TemporalBlender._warp_history's rule: bicubic where a pixel drifts slowly, its offset
        rounded to a whole pixel (a copy) where it moves fast, a linear ramp between."""
        h, w = prev.shape[-2:]
        speed = _sq_norm(backward).sqrt() * (w / backward.shape[-1])
        snap = ((speed - TemporalBlender.SNAP_FROM) / TemporalBlender.SNAP_RAMP).clamp(0, 1)
        snap = F.interpolate(snap, size=(h, w), mode="bilinear", align_corners=False)
        moved = resize_flow(backward, h, w)
        return warp(prev, moved - snap * (moved - moved.round()), mode="bicubic")

    def __call__(self, stylized: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        gray, stylized = self._gray(source.float()), stylized.float()
        if self.previous is None or self.previous_gray.shape != gray.shape or self.previous.shape != stylized.shape:
            self.reset()
            self.previous_gray, self.previous = gray.clone(), stylized.clone()
            return stylized
        if not (self.graphs and stylized.is_cuda):
            out = self.blend(self.previous_gray, gray, self.previous, stylized)
            self.previous_gray, self.previous = gray, out
            return out
        if self._graph is None:
            try:
                self._capture(gray, stylized)
            except RuntimeError as exc:  # a capture-hostile op in this torch build: run eagerly
                print(f"stylestream: temporal step runs without a CUDA graph ({str(exc).splitlines()[0][:120]})",
                      file=sys.stderr)
                self.graphs, self._graph = False, None
                return self(stylized, source)
        self._gray_in.copy_(gray)
        self._stylized_in.copy_(stylized)
        self._graph.replay()
        return self._out.clone()

    def _capture(self, gray: torch.Tensor, stylized: torch.Tensor) -> None:
        self._gray_in, self._stylized_in = gray.clone(), stylized.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):     # warm-up: kernels cached, cuDNN tuned, outside the capture
            self.blend(self.previous_gray, self._gray_in, self.previous, self._stylized_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.blend(self.previous_gray, self._gray_in, self.previous, self._stylized_in)
            self.previous_gray.copy_(self._gray_in)      # the history advances inside the graph
            self.previous.copy_(out)
        self._graph, self._out = graph, out

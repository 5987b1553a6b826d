"""The temporal method on the device, in PyTorch: the same method as cpu.py, with its own flow.

OpenCV's DIS flow runs on the CPU only, and a 1080p frame would cross the bus twice to use
it. Here the flow is a coarse-to-fine dense Lucas–Kanade (Gaussian-weighted structure
tensor, a few warping iterations per pyramid level), and the occlusion mask, warp and
detail-keeping blend follow cpu.py formula for formula (rules.py holds the shared ones).
Everything stays on the device, and nothing waits on the host: a scene cut is decided inside
the mask rather than by reading a flag back.

Frames are 1×3×H×W float tensors in [0, 1] at the processing size.
"""
from __future__ import annotations

import functools
import sys

import torch
import torch.nn.functional as F

from stylestream.temporal.motion import Motion
from stylestream.temporal.params import DEFAULT_STRENGTH, TORCH_PARAMS, TemporalParams, check_strength
from stylestream.temporal.rules import SOBEL_SCALE, boundary, disagreement, flow_size, snap_ramp


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
    needed), replicating borders: the torch twin of cpu.warp."""
    n, _, h, w = image.shape
    if flow.shape[-2:] != (h, w):
        flow = resize_flow(flow, h, w)
    pos = _grid(h, w, image.device, image.dtype) + flow.to(image.dtype)
    # grid_sample wants [-1, 1] with align_corners=True mapping -1 → pixel 0, 1 → pixel w-1.
    gx = pos[:, 0] * (2 / max(w - 1, 1)) - 1
    gy = pos[:, 1] * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([gx, gy], dim=-1).expand(n, -1, -1, -1)
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def lucas_kanade(prev: torch.Tensor, cur: torch.Tensor, params: TemporalParams = TORCH_PARAMS) -> torch.Tensor:
    """Dense flow (1×2×h×w, pixels) with cur(x) ≈ prev(x + flow(x)), like DIS's calc(cur, prev).

    prev, cur: 1×1×h×w grey in [0, 1]. Each pyramid level starts from the coarser one's flow,
    warps `prev` by it and solves the 2×2 Lucas–Kanade system for the remaining motion in a
    Gaussian window (params.lk_eps regularizes it). Where the window holds no texture the
    solution is meaningless, so the level's flow is then refilled by normalized convolution: a
    blur weighted by the structure tensor's smaller eigenvalue, which carries motion from
    textured pixels into flat ones; a median filter removes the remaining outliers.
    """
    p, eps = params, params.lk_eps
    pyramid = [(prev, cur)]
    while len(pyramid) < p.lk_levels and min(pyramid[-1][0].shape[-2:]) >= p.lk_min_level_side:
        a, b = pyramid[-1]
        pyramid.append((F.avg_pool2d(a, 2, ceil_mode=True), F.avg_pool2d(b, 2, ceil_mode=True)))
    flow = None
    for before, now in reversed(pyramid):
        h, w = before.shape[-2:]
        if flow is None:
            flow = torch.zeros(1, 2, h, w, device=before.device, dtype=before.dtype)
        else:
            flow = resize_flow(flow, h, w)
        for _ in range(p.lk_iterations):
            moved = warp(before, flow)
            ix, iy = _sobel(moved)
            ix, iy = ix / SOBEL_SCALE, iy / SOBEL_SCALE     # the slope, not the Sobel sum
            it = moved - now
            a = gaussian_blur(torch.cat([ix * ix, ix * iy, iy * iy, ix * it, iy * it], 1), p.lk_window_sigma)
            axx, axy, ayy, bx, by = a[:, 0:1] + eps, a[:, 1:2], a[:, 2:3] + eps, a[:, 3:4], a[:, 4:5]
            det = axx * ayy - axy * axy
            step = torch.cat([-(ayy * bx - axy * by) / det, -(axx * by - axy * bx) / det], 1)
            flow = flow + step.clamp(-p.lk_max_step, p.lk_max_step)      # one linearization's reach
        smaller_eigen = (axx + ayy) / 2 - torch.sqrt(((axx - ayy) / 2) ** 2 + axy * axy)
        confidence = (smaller_eigen - eps).clamp(min=0) + 1e-5         # > 0: the fill stays finite
        flow = gaussian_blur(flow * confidence, p.lk_fill_sigma) / gaussian_blur(confidence, p.lk_fill_sigma)
        flow = median_filter(flow, p.lk_median)
    return flow


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel median over size×size windows, replicate borders: removes flow outliers and
    keeps motion edges (Sun et al., "Secrets of optical flow", 2010)."""
    if size <= 1:
        return x
    n, c, h, w = x.shape
    r = size // 2
    patches = F.unfold(F.pad(x, (r, r, r, r), mode="replicate"), size)       # n × c·k² × h·w
    return patches.view(n, c, size * size, h * w).median(2).values.view(n, c, h, w)


def _sq_norm(field: torch.Tensor) -> torch.Tensor:
    return (field * field).sum(1, keepdim=True)


def consistency_mask(backward: torch.Tensor, forward: torch.Tensor, params: TemporalParams = TORCH_PARAMS) -> torch.Tensor:
    """1×1×h×w: 1 where forward and backward flow agree and no motion boundary lies, 0
    elsewhere (cpu.consistency_mask's rule), eroded 3×3 or, without params.erode_mask, cleaned
    by a 3×3 median."""
    fwd_at = warp(forward, backward)
    back_sq = _sq_norm(backward)
    occluded = disagreement(_sq_norm(backward + fwd_at), back_sq, _sq_norm(fwd_at), params) > params.occlusion_absolute
    gx, gy = _sobel(backward)
    on_boundary = boundary(_sq_norm(gx) + _sq_norm(gy), back_sq, params) > params.boundary_absolute
    mask = (~(occluded | on_boundary)).to(backward.dtype)
    if params.erode_mask:
        return -F.max_pool2d(-mask, 3, stride=1, padding=1)
    return median_filter(mask, 3)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma, as OpenCV's RGB2GRAY."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _detail(rgb: torch.Tensor, params: TemporalParams = TORCH_PARAMS) -> torch.Tensor:
    """Local sharpness: mean |Laplacian| of luma over a detail_window² window (cpu._detail)."""
    lap = _conv3x3(luma(rgb), ((0, 1, 0), (1, -4, 1), (0, 1, 0))).abs()
    r = params.detail_window // 2
    return F.avg_pool2d(F.pad(lap, (r, r, r, r), mode="replicate"), params.detail_window, stride=1)


class TorchTemporal:
    """The temporal method on the device. `estimate` keeps the previous source frame (grey, at
    flow size), `blend` the previous output; each is called once per frame, in frame order.

    On CUDA each half (two pyramidal flows and the mask; the warp and the blend: several
    hundred small kernels together) is captured once as a CUDA graph and replayed per frame,
    since launching the kernels one by one from Python costs more than running them. A Motion
    from a captured estimate lives in the graph's buffers, valid until the next estimate."""

    # On the device and in the inference thread: estimate runs just before the frame's inference.
    concurrent = False

    def __init__(self, strength: float = DEFAULT_STRENGTH, params: TemporalParams = TORCH_PARAMS,
                 graphs: bool = True):
        check_strength(strength)
        self.strength, self.params, self.graphs = strength, params, graphs
        self.reset()

    def reset(self) -> None:
        self.previous_gray: torch.Tensor | None = None
        self.previous: torch.Tensor | None = None
        self._estimate_graph = self._blend_graph = None

    def _gray(self, source: torch.Tensor) -> torch.Tensor:
        h, w = source.shape[-2:]
        g = luma(source)
        size = flow_size(w, h, self.params)
        return g if size is None else F.interpolate(g, size=(size[1], size[0]), mode="area")

    def motion(self, prev_gray: torch.Tensor, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(backward flow, mask) from the previous and the current grey frame; a scene cut
        zeroes the mask on the device: no host round trip to decide it."""
        backward = lucas_kanade(prev_gray, gray, self.params)
        forward = lucas_kanade(gray, prev_gray, self.params)
        mask = consistency_mask(backward, forward, self.params)
        keep = (mask.mean() >= self.params.cut_trusted).to(mask.dtype)
        return backward, mask * keep

    def mix(self, prev: torch.Tensor, stylized: torch.Tensor, backward: torch.Tensor,
            mask: torch.Tensor) -> torch.Tensor:
        """The consistent frame from the previous output and the new stylized one."""
        p = self.params
        h, w = stylized.shape[-2:]
        m = F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False) * self.strength
        warped = self._warp_history(prev, backward, p)
        out = m * warped + (1 - m) * stylized
        if p.keep_detail:
            low = gaussian_blur(out, p.detail_sigma)
            gain = (_detail(stylized, p) / (_detail(out, p) + p.detail_floor / 255)).clamp(1.0, p.max_gain)
            out = low + (out - low) * gain
        return out.clamp(0, 1)

    @staticmethod
    def _warp_history(prev: torch.Tensor, backward: torch.Tensor, params: TemporalParams = TORCH_PARAMS) -> torch.Tensor:
        """cpu.CpuTemporal._warp_history's rule: bicubic where a pixel drifts slowly, its offset
        rounded to a whole pixel (a copy) where it moves fast, a linear ramp between."""
        h, w = prev.shape[-2:]
        speed = _sq_norm(backward).sqrt() * (w / backward.shape[-1])
        snap = snap_ramp(speed, params).clamp(0, 1)
        snap = F.interpolate(snap, size=(h, w), mode="bilinear", align_corners=False)
        moved = resize_flow(backward, h, w)
        return warp(prev, moved - snap * (moved - moved.round()), mode="bicubic")

    def _on_graphs(self, frame: torch.Tensor) -> bool:
        return self.graphs and frame.is_cuda

    @torch.no_grad()
    def estimate(self, source: torch.Tensor) -> Motion:
        gray = self._gray(source.float())
        if self.previous_gray is None or self.previous_gray.shape != gray.shape:
            self.reset()
            self.previous_gray = gray.clone()
            return Motion(None, None, True)
        if not self._on_graphs(gray):
            backward, mask = self.motion(self.previous_gray, gray)
            self.previous_gray = gray
            return Motion(backward, mask, False)
        if self._estimate_graph is None:
            self._gray_in = gray.clone()

            def step():
                backward, mask = self.motion(self.previous_gray, self._gray_in)
                self.previous_gray.copy_(self._gray_in)      # the history advances inside the graph
                return backward, mask
            self._estimate_graph = self._capture(step, lambda: self.motion(self.previous_gray, self._gray_in))
            if self._estimate_graph is None:
                return self.estimate(source)
        self._gray_in.copy_(gray)
        graph, (backward, mask) = self._estimate_graph
        graph.replay()
        return Motion(backward, mask, False)

    @torch.no_grad()
    def blend(self, stylized: torch.Tensor, motion: Motion) -> torch.Tensor:
        stylized = stylized.float()
        if motion.cut or self.previous is None or self.previous.shape != stylized.shape:
            self._blend_graph = None
            self.previous = stylized.clone()
            return stylized
        if not self._on_graphs(stylized):
            out = self.mix(self.previous, stylized, motion.backward, motion.mask)
            self.previous = out
            return out
        if self._blend_graph is None:
            self._stylized_in, self._backward_in, self._mask_in = stylized.clone(), motion.backward.clone(), \
                motion.mask.clone()

            def step():
                out = self.mix(self.previous, self._stylized_in, self._backward_in, self._mask_in)
                self.previous.copy_(out)
                return out
            self._blend_graph = self._capture(
                step, lambda: self.mix(self.previous, self._stylized_in, self._backward_in, self._mask_in))
            if self._blend_graph is None:
                return self.blend(stylized, motion)
        self._stylized_in.copy_(stylized)
        self._backward_in.copy_(motion.backward)
        self._mask_in.copy_(motion.mask)
        graph, out = self._blend_graph
        graph.replay()
        return out.clone()

    def _capture(self, step, warm_up):
        """(CUDA graph of `step`, its outputs), after one run of `warm_up` (the same work without
        advancing the history) outside the capture; None, graphs off, if this torch build
        cannot capture it."""
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):     # kernels cached, cuDNN tuned, outside the capture
                warm_up()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outputs = step()
            return graph, outputs
        except RuntimeError as exc:  # a capture-hostile op in this torch build: run eagerly
            print(f"stylestream: temporal step runs without a CUDA graph ({str(exc).splitlines()[0][:120]})",
                  file=sys.stderr)
            self.graphs = False
            return None

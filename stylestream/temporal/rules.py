"""The method's formulas that both implementations evaluate as written: plain arithmetic, so
numpy arrays (cpu.py) and torch tensors (torch.py) go through the same expressions."""
from __future__ import annotations

from stylestream.temporal.params import TemporalParams

# A 3×3 Sobel sums 8× the per-pixel slope (so its square 64×).
SOBEL_SCALE = 8
SOBEL_SQ_SCALE = SOBEL_SCALE * SOBEL_SCALE


def flow_size(width: int, height: int, params: TemporalParams) -> tuple[int, int] | None:
    """(width, height) the flow is estimated at, or None when the frame is small enough as it is."""
    s = min(1.0, params.flow_side / max(width, height))
    if s >= 1.0:
        return None
    return max(params.gray_min_side, round(width * s)), max(params.gray_min_side, round(height * s))


def disagreement(sum_sq, back_sq, fwd_sq, params: TemporalParams):
    """Above params.occlusion_absolute where forward and backward flow disagree (an occlusion):
    `sum_sq` is |b + f|², `back_sq` |b|², `fwd_sq` |f|² (f sampled where each pixel came from)."""
    return sum_sq - params.occlusion_relative * (back_sq + fwd_sq)


def boundary(sobel_sq, back_sq, params: TemporalParams):
    """Above params.boundary_absolute on a motion boundary: `sobel_sq` is the squared 3×3 Sobel
    gradient of the backward flow b, summed over both directions and components; `back_sq` |b|²."""
    return sobel_sq / SOBEL_SQ_SCALE - params.boundary_relative * back_sq


def snap_ramp(speed, params: TemporalParams):
    """How far toward a whole-pixel copy a pixel moving `speed` px a frame is, before clipping
    to [0, 1]: 0 (resampled) below params.snap_from, 1 (copied) from snap_from + snap_ramp."""
    return (speed - params.snap_from) / params.snap_ramp

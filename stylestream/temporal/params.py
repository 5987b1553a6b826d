"""The temporal method's settings: one frozen dataclass, the only home of its constants.

Both implementations (cpu.py: OpenCV's DIS flow and numpy; torch.py: a pyramidal Lucas–Kanade
flow and the rest on the device) read every threshold, size and cap from a TemporalParams.
CPU_PARAMS (`TemporalParams()`) is the CPU's set; TORCH_PARAMS the GPU's, which differs only where its
flow does. A sweep (benchmarks/temporal_sweep.py) or the quality metric (`eval temporal`)
passes its own set rather than editing these.

Figures quoted below come from `python benchmarks/temporal_sweep.py` on bikes.mp4 and
bigbuckbunny.mp4 (compact starry at 640 px, strength 0.8, encoded as the video sink encodes):
"N× at P %" is the warping error as a multiple of the per-frame output's, at P % of its
sharpness; flow milliseconds are both flows and the mask on one core.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

# --temporal-strength when none is given: the weight of the warped history where it is trusted.
DEFAULT_STRENGTH = 0.8


@dataclass(frozen=True)
class TemporalParams:
    # -- Flow: estimated on grey frames whose longer side is at most `flow_side` px (never under
    # `gray_min_side`). On the CPU: `--flow-side 256 320 400` gives 0.502× at 95.6 % in 4.1 ms,
    # 0.483× at 96.4 % in 5.7 ms, 0.461× at 96.7 % in 9.6 ms.
    flow_side: int = 320
    gray_min_side: int = 8
    # DIS (MEDIUM preset, which follows fast small objects that FAST misses) with patches every
    # `patch_stride` px instead of MEDIUM's 3, `descent_iterations` patch descent steps instead
    # of 25 (0.492× against 0.493×, 0.8 ms less) and `refinement_iterations` variational
    # refinements instead of 5 (`--refinements 3 5` at 320 px: 0.483× against 0.481×, 5.7
    # against 6.6 ms).
    patch_stride: int = 4
    descent_iterations: int = 12
    refinement_iterations: int = 3
    # The forward flow only checks the backward one (the mask), and one refinement does that
    # about as well as three for 0.6 ms less: `--forward-refinements 1 3` gives bikes 0.484× at
    # 96.2 % against 0.483× at 96.5 % (none at all: 0.490×), bigbuckbunny 0.510× either way.
    forward_refinement_iterations: int = 1
    # OpenCV's DIS refuses a flow image with both sides under 12 px and, with a side under 16 px
    # and the other at 47 px or more, crashes the process (SIGSEGV; 12×48 to 15×256 all do).
    # Smaller frames get no flow: each is stylized on its own.
    min_flow_side: int = 16

    # -- The GPU's flow (coarse-to-fine dense Lucas–Kanade, torch.py's lucas_kanade): pyramid
    # levels, warping iterations per level, the Gaussian window's σ, the structure tensor's
    # regularizer, the σ of the fill of textureless windows, the outlier median's size, and
    # the largest step one linearization is trusted with (px).
    lk_levels: int = 4
    lk_min_level_side: int = 32     # no pyramid level is made from one with a side under this
    lk_iterations: int = 3
    lk_window_sigma: float = 2.0
    lk_eps: float = 1e-4
    lk_fill_sigma: float = 4.0
    lk_median: int = 5
    lk_max_step: float = 2.0

    # -- Consistency mask (Ruder et al. 2016): a pixel is untrusted where forward and backward
    # flow disagree, |b + f|² > occlusion_relative·(|b|² + |f|²) + occlusion_absolute, or on a
    # motion boundary, |∇b|² > boundary_relative·|b|² + boundary_absolute.
    occlusion_relative: float = 0.01
    occlusion_absolute: float = 0.5
    boundary_relative: float = 0.01
    boundary_absolute: float = 0.002
    # Then a 3×3 median drops lone trusted pixels inside an occlusion (and lone distrusted ones
    # elsewhere); eroding instead distrusts a rim around every occlusion, and the unblended rim
    # flickers: bikes 0.502× against 0.488×.
    erode_mask: bool = False

    # -- Scene cut: a new shot leaves almost no consistent pixel (0.6–8.6 % of the mask is
    # trusted on bikes.mp4's five cuts); fast motion leaves far more (43–58 % on its fastest
    # frames) and is still worth blending where trusted. A frame with a smaller trusted fraction
    # than this starts a new shot: its history is dropped.
    cut_trusted: float = 0.3

    # -- Detail kept: the blend's fine detail (above a `detail_sigma` px Gaussian) is amplified
    # until its local sharpness (mean |Laplacian| of luma over `detail_window`² px) matches the
    # fresh stylization's, by at most `max_gain`: the gain also amplifies what flicker is left
    # (a cap of 1.3 gives 0.476× at 95.3 %, 1.33 0.483× at 96.4 %). `detail_floor` (in 8-bit
    # levels) keeps the ratio finite on flat regions.
    keep_detail: bool = True
    detail_sigma: float = 1.0
    detail_window: int = 9
    detail_floor: float = 1e-2
    max_gain: float = 1.33

    # -- History warp: cubic resampling keeps sub-pixel drift exact, but every resample softens
    # the texture a little, compounding through the recursion. Where a pixel moves
    # `snap_from` + `snap_ramp` px a frame or more the sample point is rounded to a whole pixel
    # (the pixel is copied as it is); below `snap_from` it is kept, and in between its fraction
    # shrinks linearly. Against cubic everywhere: bikes 0.483× at 96.4 % with a 320 px flow,
    # where cubic everywhere needs 400 px (and a cap of 1.42) for 0.487× at 95.2 %;
    # bigbuckbunny 0.523× at 93.7 %. Nearest-neighbour everywhere leaves slowly drifting
    # texture stuck: bigbuckbunny 0.64× at 95 %.
    snap_from: float = 0.5
    snap_ramp: float = 1.0


# The CPU's set.
CPU_PARAMS = TemporalParams()
# The GPU can afford a finer flow than the CPU. Its Lucas–Kanade flow is smoother than DIS at
# motion edges and marks a narrower band where the background reappears; with the median, history
# leaked into a quarter of such a band in a test, so its mask is eroded.
TORCH_PARAMS = replace(CPU_PARAMS, flow_side=480, erode_mask=True)


def check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise ValueError("--temporal-strength must be between 0 and 1")

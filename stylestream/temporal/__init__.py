"""Temporal consistency with optical flow (after Ruder et al. 2016).

Per-frame stylization flickers. For each new frame, optical flow is estimated between the
previous and the current *source* frames, the previous *output* is warped onto the current
frame, and blended in where the flow can be trusted:

    out = m·α·warped + (1 − m·α)·stylized

m is 0 where forward and backward flow disagree (occlusions, disocclusions) and on motion
boundaries, 1 elsewhere; α is --temporal-strength. A scene cut drops the history.

Blending alone softens the picture: the warped frame is resampled (a little blur each time,
compounding through the recursion, unless a fast-moving pixel is copied whole) and two
textures that are not perfectly aligned average out. So the blend's fine detail is amplified
until its local sharpness matches the freshly stylized frame's, up to a cap: the detail stays
the stable, warped one, only its contrast is restored.

In a video job this runs as two stages around inference: decode → flow (`estimate`, from
source frames alone) → infer → blend (`blend`) → encode.

    params.py   TemporalParams: every threshold, size and cap (the only home of the constants)
    motion.py   Motion, and the Temporal interface both implementations satisfy
    rules.py    the formulas both evaluate alike (flow size, mask thresholds, snap ramp)
    cpu.py      CpuTemporal: OpenCV's DIS flow and numpy; also the metric's flow
    torch.py    TorchTemporal: Lucas–Kanade flow and the blend on the device, as CUDA graphs
"""
from stylestream.temporal.motion import Motion, Temporal
from stylestream.temporal.params import CPU_PARAMS, DEFAULT_STRENGTH, TORCH_PARAMS, TemporalParams

__all__ = ["CPU_PARAMS", "DEFAULT_STRENGTH", "TORCH_PARAMS", "Motion", "Temporal", "TemporalParams"]

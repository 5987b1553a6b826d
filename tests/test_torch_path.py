"""The PyTorch path (stylestream.gpu, stylestream.temporal.torch), run on the CPU here: the
same code runs on CUDA with fp16 and CUDA graphs on top."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from stylestream.backends import open_engine
from stylestream.backends.torch import TorchEngine, net_from_onnx
from stylestream.errors import UserError
from stylestream.gpu import TorchStylizer
from stylestream.stylizer import Stylizer
from stylestream.temporal import TORCH_PARAMS, TemporalParams
from stylestream.temporal.torch import TorchTemporal, consistency_mask, lucas_kanade, warp
from tests.test_temporal import _shift, _texture


def _t(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255


def _step(temporal: TorchTemporal, stylized: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """One frame through the flow and blend stages."""
    return temporal.blend(stylized, temporal.estimate(source))


def _gray(rgb: np.ndarray) -> torch.Tensor:
    return _t(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None])


def test_onnx_export_rebuilds_as_the_same_torch_net(tiny_models, tmp_path):
    net, meta = net_from_onnx(tiny_models["onnx"])
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(net(x), tiny_models["net"](x), atol=1e-5, rtol=0)
    assert meta["name"] == "tiny"

    from exports.formats import export_onnx
    from stylenets.transformer_net import build
    compact = build("compact", width=8, res_blocks=1).eval()
    path = tmp_path / "c.onnx"
    export_onnx(compact, path, {"kind": "stylestream.style", "name": "c", **compact.config()})
    rebuilt, _ = net_from_onnx(path)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), compact(x), atol=1e-5, rtol=0)


def test_onnx_with_wrong_metadata_is_refused(tiny_models, tmp_path):
    import onnx
    model = onnx.load(str(tiny_models["onnx"]))
    for p in model.metadata_props:
        if p.key == "width":
            p.value = "8"                       # weights no longer fit the declared net
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises((UserError, RuntimeError)):
        net_from_onnx(bad)


def test_torch_stylizer_matches_onnx_stylizer(tiny_models):
    frame = _texture(48, 64, 5)
    want = Stylizer(open_engine(tiny_models["onnx"], "cpu", precision="fp32"))(frame)
    got = TorchStylizer(TorchEngine(tiny_models["onnx"], device="cpu"))(frame)
    assert np.abs(want.astype(int) - got.astype(int)).max() <= 1


def test_lucas_kanade_recovers_translation():
    big = _texture(200, 260, 0)
    prev, cur = big[20:180, 20:240], _shift(big, 4.5, -2.5)[20:180, 20:240]
    flow = lucas_kanade(_gray(prev), _gray(cur))
    inner = flow[0, :, 24:-24, 24:-24]
    median = inner.flatten(1).median(1).values
    torch.testing.assert_close(median, torch.tensor([-4.5, 2.5]), atol=0.25, rtol=0)
    warped = warp(_t(prev), flow)
    err = (warped - _t(cur))[..., 24:-24, 24:-24].abs().mean() * 255
    assert err < 8, err
    mask = consistency_mask(flow, lucas_kanade(_gray(cur), _gray(prev)))
    assert mask[..., 24:-24, 24:-24].mean() > 0.85


def test_torch_temporal_blends_history_and_not_disocclusions():
    bg = _texture(128, 160, 1, k=8)
    square = _texture(48, 48, 2, k=8)
    prev, cur = bg.copy(), bg.copy()
    prev[32:80, 40:88] = square
    cur[32:80, 50:98] = square
    temporal = TorchTemporal(1.0, replace(TORCH_PARAMS, keep_detail=False))
    _step(temporal, torch.full((1, 3, 128, 160), 200 / 255), _t(prev))    # first frame: history = 200
    out = _step(temporal, torch.full((1, 3, 128, 160), 20 / 255), _t(cur)) * 255
    uncovered = out[..., 36:76, 41:49]
    assert ((uncovered - 20).abs() > 40).float().mean() < 0.2             # uncovered: fresh stylization
    assert (out[..., :, 120:] - 200).abs().mean() < 30                    # trusted flow: history kept


def test_torch_temporal_cut_resets_and_detail_is_kept():
    a, b = _texture(96, 128, 3), _texture(96, 128, 4)
    temporal = TorchTemporal(0.9)
    _step(temporal, torch.zeros(1, 3, 96, 128), _t(a))
    styled = _t(_texture(96, 128, 9))
    torch.testing.assert_close(_step(temporal, styled, _t(b)), styled, atol=2 / 255, rtol=0)

    # Sub-pixel motion: the blend stays as sharp as the fresh stylization.
    big = _texture(160, 200, 6, k=2)
    frames = [_shift(big, 0.5 * i, 0.3 * i)[20:116, 20:148] for i in range(6)]
    temporal, plain = TorchTemporal(0.8), TorchTemporal(0.8, replace(TORCH_PARAMS, keep_detail=False))
    from stylestream.temporal.torch import _detail
    for f in frames:
        kept, soft = _step(temporal, _t(f), _t(f)), _step(plain, _t(f), _t(f))
    fresh = _detail(_t(frames[-1])).mean()
    assert _detail(kept).mean() > 0.95 * fresh
    assert _detail(soft).mean() < _detail(kept).mean()


def test_cli_torch_backend_plays_a_video(tiny_models, clips, tmp_path):
    import json

    from tests.conftest import probe, run_cli
    out = tmp_path / "t.mp4"
    proc = run_cli("video", str(clips["plain"]), str(out), "--style", str(tiny_models["onnx"]),
                   "--backend", "torch", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["backend"] == "torch-cpu" and summary["frames"] == probe(out)["frames"] > 0


def test_torch_mask_is_the_cpu_mask():
    """The GPU path's occlusion mask follows the CPU's formula for formula (eroded, as
    `eval temporal` has it): the same flows give the same mask."""
    from stylestream.temporal import cpu
    bg = _texture(96, 128, 1, k=8)
    square = _texture(40, 40, 2, k=8)
    prev, cur = bg.copy(), bg.copy()
    prev[28:68, 30:70] = square
    cur[28:68, 40:80] = square                                              # the square moves 10 px right
    flow = cpu.dis_flow()
    a, b = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY), cv2.cvtColor(cur, cv2.COLOR_RGB2GRAY)
    backward, forward = flow(b, a), flow(a, b)
    want = cpu.consistency_mask(backward, forward, TemporalParams(erode_mask=True))
    got = consistency_mask(*(torch.from_numpy(f).permute(2, 0, 1)[None] for f in (backward, forward)))[0, 0].numpy()
    assert 0.05 < 1 - want.mean() < 0.5                                      # the test has occlusions to find
    assert (got != want).mean() < 0.01


def test_torch_history_is_copied_where_the_scene_moves_fast():
    """The CPU's history warp rule on the GPU path: fast pixels copied whole, slow drift resampled."""
    prev = _texture(64, 96, 7, k=2)
    fast = torch.stack([torch.full((32, 48), -1.6), torch.full((32, 48), -1.1)])[None]   # 3.2, 2.2 px here
    warped = TorchTemporal._warp_history(_t(prev), fast)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(warped[8:-8, 8:-8] - prev[6:-10, 5:-11]).max() < 0.5       # the nearest pixels, 3 left and 2 up
    drift = torch.stack([torch.full((32, 48), -0.15), torch.zeros(32, 48)])[None]        # 0.3 px here
    drifted = TorchTemporal._warp_history(_t(prev), drift)
    torch.testing.assert_close(drifted, warp(_t(prev), drift, mode="bicubic"))   # bicubic, not rounded to no motion
    assert ((drifted - _t(prev)) * 255)[..., 8:-8, 8:-8].abs().mean() > 2


def test_torch_median_mask_is_the_cpu_blend_mask():
    """With the CPU's parameter set (a 3×3 median, no erosion) the GPU path's mask is the CPU
    blend's for the same flows: the setting means the same in both implementations."""
    from stylestream.temporal import cpu
    bg = _texture(96, 128, 1, k=8)
    square = _texture(40, 40, 2, k=8)
    prev, cur = bg.copy(), bg.copy()
    prev[28:68, 30:70] = square
    cur[28:68, 40:80] = square
    flow = cpu.dis_flow()
    a, b = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY), cv2.cvtColor(cur, cv2.COLOR_RGB2GRAY)
    backward, forward = flow(b, a), flow(a, b)
    params = TemporalParams()
    want = cpu.consistency_mask(backward, forward, params)
    got = consistency_mask(*(torch.from_numpy(f).permute(2, 0, 1)[None] for f in (backward, forward)), params)[0, 0]
    assert 0.05 < 1 - want.mean() < 0.5
    assert (got.numpy() != want).mean() < 0.01
    eroded = consistency_mask(*(torch.from_numpy(f).permute(2, 0, 1)[None] for f in (backward, forward)))[0, 0]
    assert eroded.sum() < got.sum()                                          # TORCH_PARAMS erodes: a wider rim

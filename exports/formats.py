"""Export formats: PyTorch → ONNX (fp32, fp16) and → TorchScript.

Every export is parity-checked against the PyTorch model it came from and fails loudly
above tolerance. Metadata travels inside the file: ONNX metadata props, or a
`stylestream.json` extra file in TorchScript archives. The runtime reads it back with
`read_metadata`.
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from stylenets.metadata import METADATA_FILE, read_metadata  # noqa: F401  (re-exported)

OPSET = 17
INPUT, OUTPUT = "input", "output"
# Outputs live in [0, 1]; fp32 should agree to float noise, fp16 to about one 8-bit level.
TOLERANCE = {"fp32": 2e-3, "fp16": 2e-2, "torchscript": 1e-4}


class ExportParityError(RuntimeError):
    pass


@contextmanager
def _quiet_torch():
    """torch.jit / torch.onnx deprecation and tracer notices: the parity check, not a wall of
    warnings, is what tells whether an export is right."""
    with warnings.catch_warnings():
        # The TorchScript-based ONNX exporter is deprecated but still the one that handles
        # these nets with plain dynamic axes; moving to dynamo export needs onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@dataclass
class Interface:
    """What an exported graph takes and gives: names, dynamic axes, and example inputs.
    `examples(seed)` returns input tuples: seed 0's first traces the model, seed 1's check parity."""
    inputs: list[str]
    outputs: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    examples: Callable[[int], list[tuple[torch.Tensor, ...]]]


def _parity_inputs(multiple: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # Two shapes, neither square, to prove height and width are really dynamic.
    return [torch.rand(1, 3, 12 * multiple, 20 * multiple, generator=g),
            torch.rand(1, 3, 17 * multiple, 9 * multiple, generator=g)]


def image_interface(multiple: int = 4) -> Interface:
    """Style nets: one N×3×H×W image in, one out, H and W dynamic."""
    hw = {2: "height", 3: "width"}
    return Interface([INPUT], [OUTPUT], {INPUT: hw, OUTPUT: hw},
                     lambda seed: [(x,) for x in _parity_inputs(multiple, seed)])


def _check(name: str, diffs: list[float], tol: float) -> float:
    worst = max(diffs)
    if not np.isfinite(worst) or worst > tol:
        raise ExportParityError(f"{name} parity check failed: max |Δ| = {worst:.3g} > tolerance {tol:g}")
    return worst


def export_onnx(model: torch.nn.Module, path: str | Path, metadata: dict, fp16: bool = False,
                multiple: int = 4, interface: Interface | None = None) -> float:
    """Exports with the interface's dynamic axes (default: a style net's, dynamic H/W);
    returns the worst parity difference. Inputs stay float32."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    iface = interface or image_interface(multiple)
    model = copy.deepcopy(model).float().eval().cpu()
    # ONNX Runtime gets a transform net's cheaper equal form (its `folded`); the parity
    # check below compares it with the trained one.
    net = model.folded() if hasattr(model, "folded") else model
    net = _Fp16Wrapper(net) if fp16 else net
    tmp = _tmp_path(path)
    with _quiet_torch():
        torch.onnx.export(net, iface.examples(0)[0], str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=iface.inputs, output_names=iface.outputs, dynamic_axes=iface.dynamic_axes)
    proto = onnx.load(str(tmp))
    meta = {**metadata, "precision": "fp16" if fp16 else "fp32"}
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, str(v)
    proto.producer_name = "stylestream"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    try:
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        diffs = []
        with torch.no_grad():
            for inputs in iface.examples(1):
                ref = model(*inputs).numpy()
                got = sess.run(None, {name: x.numpy() for name, x in zip(iface.inputs, inputs)})[0]
                diffs.append(float(np.abs(ref - got).max()) if ref.shape == got.shape else float("inf"))
        worst = _check(f"ONNX {meta['precision']} export", diffs, TOLERANCE[meta["precision"]])
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return worst


class _Fp16Wrapper(torch.nn.Module):
    """Half-precision weights and activations behind a float32 interface."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*[x.half() if x.is_floating_point() else x for x in inputs]).float()


def export_torchscript(model: torch.nn.Module, path: str | Path, metadata: dict, multiple: int = 4,
                       interface: Interface | None = None) -> float:
    path = Path(path)
    iface = interface or image_interface(multiple)
    model = copy.deepcopy(model).float().eval().cpu()
    with torch.no_grad(), _quiet_torch():
        scripted = torch.jit.trace(model, iface.examples(0)[0], check_trace=False)
    tmp = _tmp_path(path)
    with _quiet_torch():
        torch.jit.save(scripted, str(tmp), _extra_files={METADATA_FILE: json.dumps(metadata)})
    try:
        with _quiet_torch():
            loaded = torch.jit.load(str(tmp))
        with torch.no_grad():
            diffs = [float((model(*inputs) - loaded(*inputs)).abs().max()) for inputs in iface.examples(1)]
        worst = _check("TorchScript export", diffs, TOLERANCE["torchscript"])
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return worst


def export_all(model: torch.nn.Module, onnx_path: str | Path, metadata: dict,
               fp16: bool = True, torchscript: bool = True) -> dict[str, tuple[Path, float]]:
    """`x.onnx` plus `x.fp16.onnx` and `x.pt` beside it; returns {variant: (path, parity)}."""
    onnx_path = Path(onnx_path)
    out = {"onnx": (onnx_path, export_onnx(model, onnx_path, metadata))}
    if fp16:
        p = onnx_path.with_suffix(".fp16.onnx")
        out["onnx-fp16"] = (p, export_onnx(model, p, metadata, fp16=True))
    if torchscript:
        p = onnx_path.with_suffix(".pt")
        out["torchscript"] = (p, export_torchscript(model, p, metadata))
    return out


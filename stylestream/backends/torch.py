"""PyTorch engines: TorchScript exports (.pt) as they are, and the CUDA engine for machines
with PyTorch and an NVIDIA GPU but no onnxruntime-gpu.

The CUDA engine also plays the zoo's ONNX files: the net is rebuilt from their metadata
(architecture, width, blocks) and their weights, then checked against ONNX Runtime on a
small input, so a file that does not map cleanly is refused instead of played wrong.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from stylenets.metadata import METADATA_FILE
from stylestream.backends.base import Engine, check_kind, first_line
from stylestream.errors import UserError


def load_torchscript(path: Path, device: str = "cpu"):
    """(module in eval mode on `device`, its metadata as strings); failures are UserErrors."""
    import torch

    extra = {METADATA_FILE: ""}
    try:
        with warnings.catch_warnings():  # TorchScript's deprecation notice is not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra).eval()
    except Exception as exc:
        if _is_checkpoint(path):
            raise UserError(f"{path}: a training checkpoint, not an exported model; export it with "
                            f"`python -m exports {path} OUT.onnx` and use OUT.onnx") from None
        raise UserError(f"{path}: not a loadable TorchScript model ({first_line(exc)})") from None
    try:
        meta = json.loads(extra[METADATA_FILE] or "{}")
    except ValueError:
        meta = {}
    return module, {k: str(v) for k, v in meta.items()}


def _is_checkpoint(path: Path) -> bool:
    """Whether `path` is a torch.save archive (a training checkpoint): a zip with a data.pkl
    and none of TorchScript's code. Read as a zip listing only, nothing unpickled."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/data.pkl") for n in names) and not any("/code/" in n for n in names)


class TorchScriptEngine(Engine):
    """A .pt export run as it is, in fp32."""
    backend = "torchscript"

    def __init__(self, path: Path, device: str = "cpu"):
        import torch

        self.module, meta = load_torchscript(path, device)
        check_kind(path, meta)
        self.torch, self.torch_device = torch, torch.device(device)
        super().__init__(path, meta, device)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.torch_device)
            return self.module(x).float().cpu().numpy()


def net_from_onnx(path: Path):
    """(PyTorch transform net in fp32 eval mode, metadata) rebuilt from one of stylestream's
    ONNX exports, checked against ONNX Runtime on a small input."""
    from stylenets.metadata import read_metadata
    from stylenets.onnx_import import net_from_onnx as rebuild

    try:
        meta = read_metadata(path)
    except Exception as exc:  # onnx raises its parser's own types for a damaged file
        raise UserError(f"{path}: not a loadable ONNX model ({first_line(exc)})") from None
    check_kind(path, meta)  # a generator or a foreign file gets its own message
    try:
        net, meta = rebuild(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _check_parity(path, net)
    return net, meta


def _check_parity(path: Path, net, tolerance: float = 2e-3) -> None:
    import onnxruntime as ort
    import torch

    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    diff = float(np.abs(want - got).max())
    if diff > tolerance:
        raise UserError(f"{path}: rebuilt PyTorch net differs from the ONNX file by {diff:.2e}; use its .pt export")


class TorchEngine(Engine):
    """A style net in PyTorch. On CUDA: half precision and one CUDA graph per input shape.
    NCHW, not channels_last: instance norm has no channels_last kernel, and the layout
    changes around it made a 1080p Johnson net 23.6 ms instead of 16.6 ms on an H100
    (benchmarks/gpu_profile.py). `compile` (or STYLESTREAM_TORCH_COMPILE=1) hands the net to
    torch.compile, which fuses the norms and activations: 6.4 ms there, after ~30 s of
    compiling. The CPU device exists for tests of this path. Its frames stay on the device
    through gpu.TorchStylizer, which calls `run`."""

    def __init__(self, path: Path, device: str = "cuda", half: bool = True, graphs: bool = True,
                 compile: bool | None = None):
        import torch

        if path.suffix.lower() == ".onnx":
            net, meta = net_from_onnx(path)
        else:
            net, meta = load_torchscript(path, "cpu")
            check_kind(path, meta)
        super().__init__(path, meta, device)
        self.backend = f"torch-{device}"
        on_cuda = device == "cuda"
        torch.backends.cudnn.benchmark = True       # the fastest conv algorithms for each shape
        self.torch, self.dev = torch, torch.device(device)
        self.dtype = torch.float16 if half and on_cuda else torch.float32
        self.precision = "fp16" if self.dtype == torch.float16 else "fp32"
        self.net = net.to(self.dev, self.dtype)
        if compile is None:
            compile = os.environ.get("STYLESTREAM_TORCH_COMPILE") == "1"
        if compile and on_cuda:
            self.net = torch.compile(self.net)
        self.graphs = graphs and on_cuda and not compile
        self._graphs: dict[tuple, tuple] = {}

    def run(self, x):
        """1×3×H×W tensor on the device, [0, 1] → stylized, in self.dtype; with graphs the result
        lives in the graph's static buffer, valid until the next call of the same shape."""
        torch = self.torch
        with torch.no_grad():
            if not self.graphs:
                return self.net(x.to(self.dtype))
            entry = self._graphs.get(tuple(x.shape)) or self._capture(tuple(x.shape))
            static_in, static_out, graph = entry
            static_in.copy_(x)
            graph.replay()
            return static_out

    def _capture(self, shape: tuple):
        torch = self.torch
        static_in = torch.zeros(shape, device=self.dev, dtype=self.dtype)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):               # warm-up (cudnn autotuning) off the capture
            for _ in range(3):
                self.net(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.net(static_in)
        self._graphs[shape] = (static_in, static_out, graph)
        return self._graphs[shape]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        outs = [self.run(torch.from_numpy(np.ascontiguousarray(b[None])).to(self.dev)).float().cpu().numpy()
                for b in batch]
        return np.concatenate(outs)

"""The PyTorch CUDA path: style nets in fp16 with CUDA graphs, frames kept on
the GPU from upload to download, temporal consistency on the GPU (temporal_torch).

This is the GPU path for machines with PyTorch and an NVIDIA GPU but no onnxruntime-gpu.
It plays the zoo's own ONNX files: the net is rebuilt from their metadata (architecture,
width, blocks) and their weights, then checked against ONNX Runtime on a small input, so a
file that does not map cleanly is refused instead of played wrong. TorchScript (.pt)
exports load directly.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stylestream.engine import Engine, check_kind, cuda_device_count, first_line, load_torchscript
from stylestream.errors import UserError
from stylestream.stylizer import Stylizer, finish, processing_plan


def torch_cuda_available() -> bool:
    """Whether PyTorch can run on an NVIDIA GPU here (driver asked first: importing torch is slow)."""
    if cuda_device_count() == 0:
        return False
    import torch
    return torch.cuda.is_available()


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
    compiling. The CPU device exists for tests of this path."""

    def __init__(self, path: Path, device: str = "cuda", half: bool = True, graphs: bool = True,
                 compile: bool | None = None):
        import torch

        if device == "cuda" and not torch_cuda_available():
            raise UserError("--device cuda: PyTorch sees no CUDA device")
        if path.suffix.lower() == ".onnx":
            net, meta = net_from_onnx(path)
        else:
            net, meta, _ = load_torchscript(path, "cpu")
            check_kind(path, meta)
        super().__init__(path, meta, device)
        self.backend = f"torch-{device}"
        on_cuda = device == "cuda"
        torch.backends.cudnn.benchmark = True       # the fastest conv algorithms for each shape
        self.torch, self.dev = torch, torch.device(device)
        self.dtype = torch.float16 if half and on_cuda else torch.float32
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


class TorchStylizer(Stylizer):
    """Stylizer whose frames stay on the GPU: upload through pinned memory, resize, net,
    temporal blend and resize back on the device, one download of the finished frame."""

    def __post_init__(self):
        super().__post_init__()
        import torch

        self.torch, self.pinned = torch, self.engine.dev.type == "cuda"
        self._host_in: dict[tuple, object] = {}
        self._host_out: dict[tuple, object] = {}

    def temporal_parts(self, strength: float):
        from stylestream.temporal_torch import TorchTemporal
        return None, TorchTemporal(strength)

    def _host_buffer(self, buffers: dict, shape: tuple):
        """A uint8 host buffer kept per shape, page-locked on CUDA so copies run asynchronously."""
        if shape not in buffers:
            buffers[shape] = self.torch.empty(shape, dtype=self.torch.uint8, pin_memory=self.pinned)
        return buffers[shape]

    def _upload(self, frame: np.ndarray):
        host = self._host_buffer(self._host_in, frame.shape)
        host.numpy()[...] = frame
        x = host.to(self.engine.dev, non_blocking=True)
        return x.permute(2, 0, 1)[None].float().mul_(1 / 255)

    def _download(self, y) -> np.ndarray:
        torch = self.torch
        img = (y[0].float() * 255 + 0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
        host = self._host_buffer(self._host_out, tuple(img.shape))
        host.copy_(img, non_blocking=True)
        if self.pinned:
            torch.cuda.current_stream().synchronize()
        return host.numpy().copy()            # the pinned buffer is reused by the next frame

    def __call__(self, frame: np.ndarray, motion=None, temporal=None, styled=None,
                 scale_back: bool = True) -> np.ndarray:
        # One frame at a time on the GPU, so nothing is inferred ahead (`styled` stays None);
        # the frame is scaled back on the device whatever `scale_back` says (it costs nothing there).
        F = self.torch.nn.functional
        h, w = frame.shape[:2]
        pw, ph, pad_r, pad_b = processing_plan(w, h, self.max_size, self.engine.multiple)
        with self.torch.no_grad():
            x = self._upload(frame)
            small = x if (pw, ph) == (w, h) else F.interpolate(x, size=(ph, pw), mode="area")
            padded = F.pad(small, (0, pad_r, 0, pad_b), mode="reflect") if pad_r or pad_b else small
            y = self.engine.run(padded)[..., :ph, :pw]
            if temporal is not None:
                y = temporal(y.float(), small)
            if (pw, ph) != (w, h):
                y = F.interpolate(y.float(), size=(h, w), mode="bilinear", align_corners=False)
            out = self._download(y)
        return finish(out, frame, self.strength, self.keep_color)

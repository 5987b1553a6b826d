"""OpenVINO: the CPU engine where it is installed."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from stylestream.backends.base import Engine, check_kind
from stylestream.errors import UserError

# stylestream's precision names → OpenVINO's element type names
OPENVINO_TYPES = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def openvino_reason(exc: Exception) -> str:
    """OpenVINO's messages open with the C++ source line that threw; the reason comes last."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:200] if lines else exc.__class__.__name__


class OpenVinoEngine(Engine):
    """The CPU engine where OpenVINO is installed. In fp32 it runs the same .onnx files 15-20 %
    faster than ONNX Runtime's CPU provider, with the same output (compact starry, 640x272,
    one core: 36 ms against 45; benchmarks/engine_backends.py): ONNX Runtime's blocked-layout
    convolutions pay for a layout reorder before and after each InstanceNorm.

    `precision` None is OpenVINO's own choice (backends.select reads it): bf16 where the CPU
    computes it natively (AMX, AVX-512 BF16), fp32 elsewhere, as the GPU paths run fp16. bf16
    is 2.7x faster on an AMX Xeon (16.6 ms); its pixels differ from fp32 by up to 34 dB PSNR
    on a frame, texture detail placed a little differently, while the style and content
    distances of all ten zoo nets and bikes.mp4's warping error and sharpness stay within
    0.1 % (docs/benchmarks.md).

    `streams` frames may be in __call__ at once (from different threads), each on `threads`
    threads. The net is compiled for each input shape it meets: a fixed shape runs about 8 %
    faster than the dynamic model, and compiling takes about 0.1 s.
    """
    backend = "openvino"

    def __init__(self, path: Path, threads: int | None = None, streams: int = 1, precision: str | None = None):
        import openvino as ov
        from openvino.frontend import FrontEndManager

        self.core = ov.Core()
        try:
            # The ONNX front end by name: Core.read_model tries every front end in turn on a
            # file that is not ONNX, and TensorFlow's logs its parse errors to stderr.
            onnx = FrontEndManager().load_by_framework("onnx")
            self.model = onnx.convert(onnx.load(str(path)))
        except Exception as exc:
            raise UserError(f"{path}: not a loadable ONNX model ({openvino_reason(exc)})") from None
        info = self.model.get_rt_info()
        meta = {k: info["framework"][k].astype(str) for k in info["framework"].keys()} if "framework" in info else {}
        check_kind(path, meta)
        inputs, outputs = self.model.inputs, self.model.outputs
        shape = inputs[0].get_partial_shape() if len(inputs) == 1 else None
        if len(outputs) != 1 or shape is None or shape.rank.get_length() != 4 or not shape[1].is_static \
                or shape[1].get_length() != 3 or inputs[0].get_element_type() != ov.Type.f32:
            raise UserError(f"{path}: expected one float32 N×3×H×W input and one output")
        super().__init__(path, meta, "cpu")
        self.concurrent_calls = max(1, streams)
        hint = OPENVINO_TYPES[precision] if precision else \
            self.core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = {t: name for name, t in OPENVINO_TYPES.items()}.get(hint, hint)
        self.config = {"NUM_STREAMS": str(self.concurrent_calls),
                       "INFERENCE_NUM_THREADS": str(self.concurrent_calls * (threads or os.cpu_count() or 1)),
                       "INFERENCE_PRECISION_HINT": hint,
                       # Flow, blend, decode and encode threads share the cores with the net:
                       # unpinned, bikes.mp4 ran at 29.8 FPS against 29.4 pinned (3 runs each).
                       "ENABLE_CPU_PINNING": "NO"}
        self._compiled: dict[tuple, object] = {}
        self._setup_lock = threading.Lock()
        self._local = threading.local()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        # One infer request per thread and shape; its output buffer is reused by the next call.
        requests = self._local.__dict__.setdefault("requests", {})
        request = requests.get(batch.shape)
        if request is not None:
            return self._infer(request, batch)
        # OpenVINO's bindings set up process-wide state on first use (pybind11's numpy bridge
        # among it). When three engine threads did that at once, a video job deadlocked (once
        # in about seven runs). So a thread's first call for a shape, from compiling the shape
        # to its first inference, runs one at a time; later calls run side by side.
        with self._setup_lock:
            compiled = self._compiled.get(batch.shape)
            if compiled is None:
                model = self.model.clone()
                model.reshape(list(batch.shape))
                try:
                    compiled = self.core.compile_model(model, "CPU", self.config)
                except Exception as exc:
                    raise UserError(f"{self.path}: OpenVINO cannot compile it ({openvino_reason(exc)}); "
                                    "--backend onnxruntime may") from None
                self._compiled[batch.shape] = compiled
            request = requests[batch.shape] = compiled.create_infer_request()
            return self._infer(request, batch)

    @staticmethod
    def _infer(request, batch: np.ndarray) -> np.ndarray:
        return request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)},
                             share_inputs=True, share_outputs=True)[0]

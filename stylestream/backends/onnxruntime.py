"""ONNX Runtime: the CPU engine where OpenVINO is missing, and the GPU engine (TensorRT in
fp16, else CUDA) where onnxruntime-gpu finds an NVIDIA device."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from stylestream.backends.base import Engine, check_kind, first_line
from stylestream.errors import UserError

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")   # in order of preference


def onnx_session(path: Path, gpu_providers: tuple[str, ...] = (), require_gpu: bool = False,
                 fp16: bool = True, threads: int | None = None):
    """(ONNX Runtime session, the GPU provider it runs on or None). `gpu_providers` are tried
    first and the CPU last; `require_gpu` (--device cuda) makes a GPU that does not start an
    error instead of a fallback; every failure is a UserError."""
    import onnxruntime as ort

    providers: list = []
    for p in gpu_providers:
        if p == "TensorrtExecutionProvider":
            cache = Path(os.environ.get("STYLESTREAM_TRT_CACHE", Path.home() / ".cache" / "stylestream" / "trt"))
            providers.append((p, {"trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                                  "trt_engine_cache_path": str(cache)}))
        else:
            providers.append(p)
    providers.append("CPUExecutionProvider")

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    if os.environ.get("STYLESTREAM_ORT_SPIN", "0") != "1":
        # Idle ORT workers spin by default; in a video job they would burn the cycles the
        # decoder, optical flow and encoder threads need on the same cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # provider fallbacks are reported by us, not as ORT warnings
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:
        raise UserError(f"{path}: not a loadable ONNX model ({first_line(exc)})") from None
    on_gpu = next((p for p in session.get_providers() if p in gpu_providers), None)
    if require_gpu and on_gpu is None:
        raise UserError("--device cuda: the CUDA provider could not start (check the CUDA/cuDNN install)")
    return session, on_gpu


class OnnxEngine(Engine):
    backend = "onnxruntime"

    def __init__(self, path: Path, gpu_providers: tuple[str, ...] = (), require_gpu: bool = False,
                 fp16: bool = True, threads: int | None = None, concurrent_calls: int = 1):
        self.session, gpu = onnx_session(path, gpu_providers, require_gpu, fp16, threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        check_kind(path, meta)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3 \
                or inputs[0].type != "tensor(float)":
            raise UserError(f"{path}: expected one float32 N×3×H×W input and one output")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.providers = self.session.get_providers()
        super().__init__(path, meta, "cuda" if gpu else "cpu")
        self.precision = "fp16" if gpu == "TensorrtExecutionProvider" and fp16 else "fp32"

        # CPU: bind the input in place and write into an output buffer kept per shape, so a
        # video's frames allocate nothing (engine output is valid until the same thread's
        # next call). Bindings and buffers are per thread: one ONNX Runtime session may run
        # several frames at once, and on a few cores single-threaded runs side by side beat
        # one run split across the cores (no barrier after every operator).
        self.on_gpu = gpu is not None
        self.concurrent_calls = 1 if self.on_gpu else max(1, concurrent_calls)
        self._local = threading.local()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.on_gpu:
            return self.session.run([self.output_name], {self.input_name: batch})[0]
        local = self._local
        if not hasattr(local, "binding"):
            local.binding, local.outputs = self.session.io_binding(), {}
        out = local.outputs.get(batch.shape)
        if out is None:
            out = local.outputs[batch.shape] = np.empty(batch.shape, np.float32)
        local.binding.bind_cpu_input(self.input_name, np.ascontiguousarray(batch, dtype=np.float32))
        local.binding.bind_output(self.output_name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
        self.session.run_with_iobinding(local.binding)
        return out

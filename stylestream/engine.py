"""Inference engines: one interface over ONNX Runtime and OpenVINO (.onnx) and TorchScript (.pt).

An engine takes a float32 NCHW RGB batch in [0, 1] of any height and width that are a
multiple of `engine.multiple` and returns the stylized batch, same shape and range. The
returned array may be reused by the same thread's next call: copy or convert it first.
"""
from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from stylenets.metadata import GENERATOR_KIND, METADATA_FILE, STYLE_KIND
from stylestream.errors import UserError

DEVICES = ("auto", "cpu", "cuda")
KIND_NAMES = {STYLE_KIND: "a style model", GENERATOR_KIND: "a generator"}
KIND_USES = {STYLE_KIND: "stylestream video, webcam or image", GENERATOR_KIND: "stylestream generate or dream"}


class Engine:
    backend = "?"
    concurrent_calls = 1     # how many frames may be in __call__ at once, from different threads
    precision: str | None = None   # the arithmetic, where stylestream chooses it (OpenVinoEngine)

    def __init__(self, path: Path, metadata: dict[str, str], device: str):
        self.path, self.metadata, self.device = path, metadata, device
        self.name = metadata.get("name") or path.stem
        # Two stride-2 downsamplings: sizes must be multiples of 4.
        self.multiple = int(metadata.get("multiple", 4))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def check_kind(path: Path, metadata: dict, expected: str = STYLE_KIND) -> None:
    """Style nets and generators are both .onnx/.pt files: the `kind` metadata tells them apart."""
    kind = metadata.get("kind")
    if kind is None:
        raise UserError(f"{path}: not a stylestream model (it carries no stylestream metadata)")
    if kind != expected:
        use = f"; use it with {KIND_USES[kind]}" if kind in KIND_USES else ""
        raise UserError(f"{path}: is {KIND_NAMES.get(kind, repr(kind))}, not {KIND_NAMES[expected]}{use}")


def cuda_device_count() -> int:
    """NVIDIA devices the driver reports, asked of libcuda directly: cheaper than importing
    torch, and onnxruntime-gpu lists its CUDA provider even on machines without a GPU."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def gpu_available() -> bool:
    """Whether `--device auto` would put an ONNX engine (the zoo's format) on a GPU."""
    import onnxruntime as ort

    gpu = {"TensorrtExecutionProvider", "CUDAExecutionProvider"} & set(ort.get_available_providers())
    return bool(gpu) and cuda_device_count() > 0


def onnx_session(path: Path, device: str = "auto", threads: int | None = None):
    """(ONNX Runtime session, whether it runs on a GPU): TensorRT or CUDA when asked for or
    auto and usable, the CPU otherwise; every failure is a UserError."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    if device == "cuda" and not gpu:
        raise UserError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
    if device != "cpu" and gpu and cuda_device_count() == 0:
        if device == "cuda":
            raise UserError("--device cuda: no NVIDIA GPU is visible to the driver")
        gpu = []
    want = gpu if device in ("cuda", "auto") else []
    providers: list = []
    for p in want:
        if p == "TensorrtExecutionProvider":
            cache = Path(os.environ.get("STYLESTREAM_TRT_CACHE", Path.home() / ".cache" / "stylestream" / "trt"))
            providers.append((p, {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
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
    on_gpu = any(p in session.get_providers() for p in gpu)
    if device == "cuda" and not on_gpu:
        raise UserError("--device cuda: the CUDA provider could not start (check the CUDA/cuDNN install)")
    return session, on_gpu


class OnnxEngine(Engine):
    backend = "onnxruntime"

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None, concurrent_calls: int = 1):
        self.session, on_gpu = onnx_session(path, device, threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        check_kind(path, meta)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3 \
                or inputs[0].type != "tensor(float)":
            raise UserError(f"{path}: expected one float32 N×3×H×W input and one output")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.providers = self.session.get_providers()
        super().__init__(path, meta, "cuda" if on_gpu else "cpu")

        # CPU: bind the input in place and write into an output buffer kept per shape, so a
        # video's frames allocate nothing (engine output is valid until the same thread's
        # next call). Bindings and buffers are per thread: one ONNX Runtime session may run
        # several frames at once, and on a few cores single-threaded runs side by side beat
        # one run split across the cores (no barrier after every operator).
        self.on_gpu = on_gpu
        self.concurrent_calls = 1 if on_gpu else max(1, concurrent_calls)
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


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _openvino_reason(exc: Exception) -> str:
    """OpenVINO's messages open with the C++ source line that threw; the reason comes last."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:200] if lines else exc.__class__.__name__


CPU_PRECISIONS = ("auto", "fp32", "bf16")


class OpenVinoEngine(Engine):
    """The CPU engine where OpenVINO is installed. In fp32 it runs the same .onnx files 15-20 %
    faster than ONNX Runtime's CPU provider, with the same output (compact starry, 640x272,
    one core: 36 ms against 45; benchmarks/engine_backends.py): ONNX Runtime's blocked-layout
    convolutions pay for a layout reorder before and after each InstanceNorm.

    `precision` auto is OpenVINO's own choice: bf16 where the CPU computes it natively (AMX,
    AVX-512 BF16), fp32 elsewhere, as the GPU paths run fp16. bf16 is 2.7x faster on an AMX
    Xeon (16.6 ms); its pixels differ from fp32 by up to 34 dB PSNR on a frame, texture
    detail placed a little differently, while the style and content distances of all ten zoo
    nets and bikes.mp4's warping error and sharpness stay within 0.1 % (docs/benchmarks.md).

    `streams` frames may be in __call__ at once (from different threads), each on `threads`
    threads. The net is compiled for each input shape it meets: a fixed shape runs about 8 %
    faster than the dynamic model, and compiling takes about 0.1 s.
    """
    backend = "openvino"

    def __init__(self, path: Path, threads: int | None = None, streams: int = 1, precision: str = "auto"):
        import openvino as ov
        from openvino.frontend import FrontEndManager

        self.core = ov.Core()
        try:
            # The ONNX front end by name: Core.read_model tries every front end in turn on a
            # file that is not ONNX, and TensorFlow's logs its parse errors to stderr.
            onnx = FrontEndManager().load_by_framework("onnx")
            self.model = onnx.convert(onnx.load(str(path)))
        except Exception as exc:
            raise UserError(f"{path}: not a loadable ONNX model ({_openvino_reason(exc)})") from None
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
        if precision not in CPU_PRECISIONS:
            raise UserError(f"--precision must be one of {', '.join(CPU_PRECISIONS)}")
        if precision == "bf16" and "BF16" not in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise UserError("--precision bf16: this CPU has no bf16 arithmetic (it needs AMX or AVX-512 BF16)")
        hint = {"fp32": "f32", "bf16": "bf16"}.get(precision) \
            or self.core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = "fp32" if hint == "f32" else hint
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
                    raise UserError(f"{self.path}: OpenVINO cannot compile it ({_openvino_reason(exc)}); "
                                    "--backend onnxruntime may") from None
                self._compiled[batch.shape] = compiled
            request = requests[batch.shape] = compiled.create_infer_request()
            return self._infer(request, batch)

    @staticmethod
    def _infer(request, batch: np.ndarray) -> np.ndarray:
        return request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)},
                             share_inputs=True, share_outputs=True)[0]


def load_torchscript(path: Path, device: str = "auto"):
    """(module in eval mode, its metadata as strings, "cuda" or "cpu"); failures are UserErrors."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: PyTorch sees no CUDA device")
    dev = "cuda" if device in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
    extra = {METADATA_FILE: ""}
    try:
        with warnings.catch_warnings():  # TorchScript's deprecation notice is not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=dev, _extra_files=extra).eval()
    except Exception as exc:
        raise UserError(f"{path}: not a loadable TorchScript model ({first_line(exc)})") from None
    try:
        meta = json.loads(extra[METADATA_FILE] or "{}")
    except ValueError:
        meta = {}
    return module, {k: str(v) for k, v in meta.items()}, dev


class TorchScriptEngine(Engine):
    backend = "torchscript"

    def __init__(self, path: Path, device: str = "auto"):
        import torch

        self.module, meta, dev = load_torchscript(path, device)
        check_kind(path, meta)
        self.torch, self.torch_device = torch, torch.device(dev)
        super().__init__(path, meta, dev)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.torch_device)
            return self.module(x).float().cpu().numpy()


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__


def check_model_file(path: str | Path, device: str) -> Path:
    """The checks every model file gets before a runtime opens it."""
    if device not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")
    if path.suffix.lower() not in (".onnx", ".pt", ".pth", ".torchscript"):
        raise UserError(f"{path}: unknown model type (expected .onnx or .pt)")
    return path


CPU_RUNTIMES = ("auto", "onnxruntime", "openvino")


def load_engine(path: str | Path, device: str = "auto", throughput: bool = False,
                cpu_runtime: str = "auto", precision: str = "auto") -> Engine:
    """Opens a style model by file type; every failure is a UserError with one clear line.
    `throughput`: for video files rather than latency (webcam, images), an ONNX model on
    the CPU takes one frame per core, each single-threaded (cpu_frames()).
    `cpu_runtime`: which runtime takes an .onnx file on the CPU; auto is OpenVINO where it is
    installed, ONNX Runtime otherwise. A GPU always goes to ONNX Runtime (TensorRT, CUDA).
    `precision`: OpenVINO's arithmetic (OpenVinoEngine); ONNX Runtime on the CPU is fp32."""
    path = check_model_file(path, device)
    if cpu_runtime not in CPU_RUNTIMES:
        raise UserError(f"the CPU runtime must be one of {', '.join(CPU_RUNTIMES)}")
    if path.suffix.lower() != ".onnx":
        return TorchScriptEngine(path, device)
    frames, threads = cpu_frames() if throughput else (1, None)
    on_cpu = device == "cpu" or (device == "auto" and not gpu_available())
    if on_cpu and cpu_runtime != "onnxruntime":
        if openvino_available():
            return OpenVinoEngine(path, threads=threads, streams=frames, precision=precision)
        if cpu_runtime == "openvino":
            raise UserError("--backend openvino: OpenVINO is not installed (pip install openvino)")
    return OnnxEngine(path, device, threads=threads, concurrent_calls=frames)


def cpu_frames(cores: int | None = None) -> tuple[int, int]:
    """(frames in flight, threads per frame) for throughput on this many cores. One frame per
    core up to four; beyond that each frame gets several threads rather than more frames
    (memory and latency grow with the frames in flight). On a 2-core x86-64 CPU, two
    single-threaded runs gave bikes.mp4 end to end 19.3 FPS against 18.1 with one 2-thread
    run (docs/benchmarks.md)."""
    cores = cores or os.cpu_count() or 1
    frames = min(cores, 4)
    return frames, max(1, cores // frames)

"""The one place that decides which engine runs a model, on which device, in which precision.

The hardware is probed once per process (`hardware()`); `choose` turns the user's
--device/--backend/--precision and the model's file type into a `Choice`, refusing a
combination that cannot run with one line; `open_engine` opens that engine.

The defaults: on an NVIDIA GPU, ONNX Runtime's TensorRT (fp16) or CUDA provider where
onnxruntime-gpu is installed, else PyTorch's CUDA engine (fp16, CUDA graphs); on the CPU,
OpenVINO where it is installed (bf16 where the CPU computes it natively, fp32 elsewhere),
else ONNX Runtime. TorchScript files (.pt) run in PyTorch.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from stylestream.backends.base import DEVICES, Engine, check_model_file
from stylestream.errors import UserError

BACKENDS = ("auto", "onnxruntime", "openvino", "torch")
PRECISIONS = ("auto", "fp32", "bf16")


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


class Hardware:
    """What this process can run on. Each fact is probed on first use and kept: importing
    torch or starting OpenVINO's CPU plugin costs time a CPU job should not pay twice."""

    @functools.cached_property
    def cuda_devices(self) -> int:
        return cuda_device_count()

    @functools.cached_property
    def ort_providers(self) -> tuple[str, ...]:
        """ONNX Runtime's providers that can run on this machine: its GPU ones only with a CUDA device."""
        from stylestream.backends.onnxruntime import GPU_PROVIDERS
        try:
            import onnxruntime as ort
        except ImportError:
            return ()
        installed = ort.get_available_providers()
        return tuple(p for p in installed if p not in GPU_PROVIDERS or self.cuda_devices)

    @functools.cached_property
    def ort_gpu_installed(self) -> tuple[str, ...]:
        """The GPU providers this onnxruntime build has, usable or not, in order of preference."""
        from stylestream.backends.onnxruntime import GPU_PROVIDERS
        try:
            import onnxruntime as ort
        except ImportError:
            return ()
        return tuple(p for p in GPU_PROVIDERS if p in ort.get_available_providers())

    @property
    def ort_gpu(self) -> tuple[str, ...]:
        """GPU providers ONNX Runtime can use, in order of preference."""
        return self.ort_gpu_installed if self.cuda_devices else ()

    @functools.cached_property
    def torch_cuda(self) -> bool:
        """Whether PyTorch can run on an NVIDIA GPU (the driver is asked first: importing torch is slow)."""
        if not self.cuda_devices:
            return False
        try:
            import torch
        except ImportError:
            return False
        return torch.cuda.is_available()

    @functools.cached_property
    def openvino(self) -> bool:
        try:
            import openvino  # noqa: F401
        except ImportError:
            return False
        return True

    @functools.cached_property
    def openvino_cpu(self) -> tuple[str, bool]:
        """(OpenVINO's own precision on this CPU, whether the CPU computes bf16 natively)."""
        import openvino as ov

        from stylestream.backends.openvino import OPENVINO_TYPES
        core = ov.Core()
        hint = core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
        default = {t: name for name, t in OPENVINO_TYPES.items()}.get(hint, "fp32")
        return default, "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@functools.cache
def hardware() -> Hardware:
    return Hardware()


@dataclass(frozen=True)
class Choice:
    backend: str        # onnxruntime, openvino, torch (PyTorch CUDA engine) or torchscript
    device: str         # cpu or cuda
    precision: str      # fp32, bf16 or fp16
    require_gpu: bool = False   # --device cuda: a GPU that fails to start is an error, not a fallback


def _choice_of(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserError(f"{option} must be one of {', '.join(allowed)}")


def choose(suffix: str = ".onnx", device: str = "auto", backend: str = "auto", precision: str = "auto",
           generator: bool = False) -> Choice:
    """The engine for a model file of type `suffix` (.onnx, or TorchScript for any other).
    `generator`: a StyleGAN generator, which ONNX Runtime or PyTorch runs as it is."""
    _choice_of("--device", device, DEVICES)
    _choice_of("--backend", backend, BACKENDS)
    _choice_of("--precision", precision, PRECISIONS)
    hw = hardware()
    onnx = suffix.lower() == ".onnx"
    if generator:
        backend = "onnxruntime" if onnx else "torchscript"
    elif not onnx and backend in ("onnxruntime", "openvino"):
        raise UserError(f"--backend {backend} plays .onnx files; a TorchScript file runs with --backend auto or torch")

    if precision == "bf16":
        if backend not in ("auto", "openvino") or not onnx:
            raise UserError("--precision bf16 is OpenVINO's, on the CPU; use it with --backend auto or openvino")
        if device == "cuda":
            raise UserError("--precision bf16 runs on the CPU; leave out --device cuda")
        backend = "openvino"
    if backend == "auto":
        if device != "cpu" and onnx and hw.ort_gpu:
            backend = "onnxruntime"
        elif device != "cpu" and hw.torch_cuda:
            backend = "torch"
        elif device == "cuda":
            raise UserError("--device cuda: neither onnxruntime-gpu nor PyTorch can use a GPU here")
        elif not onnx:
            backend = "torchscript"
        else:
            backend = "openvino" if hw.openvino else "onnxruntime"

    if backend == "openvino":
        if device == "cuda":
            raise UserError("--backend openvino runs on the CPU; leave out --device cuda")
        if not hw.openvino:
            raise UserError("--backend openvino: OpenVINO is not installed (pip install openvino)")
        default, bf16 = hw.openvino_cpu
        if precision == "bf16" and not bf16:
            raise UserError("--precision bf16: this CPU has no bf16 arithmetic (it needs AMX or AVX-512 BF16)")
        return Choice("openvino", "cpu", default if precision == "auto" else precision)
    if backend == "onnxruntime":
        if device == "cuda" and not hw.ort_gpu_installed:
            raise UserError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        if device == "cuda" and not hw.cuda_devices:
            raise UserError("--device cuda: no NVIDIA GPU is visible to the driver")
        if device == "cpu" or not hw.ort_gpu:
            return Choice("onnxruntime", "cpu", "fp32")
        # TensorRT builds its engines in fp16 unless fp32 is asked for; the CUDA provider runs fp32.
        fp16 = hw.ort_gpu[0] == "TensorrtExecutionProvider" and precision == "auto"
        return Choice("onnxruntime", "cuda", "fp16" if fp16 else "fp32", require_gpu=device == "cuda")
    # torch (the CUDA engine) or torchscript (a .pt file as it is)
    if device != "cpu" and hw.torch_cuda:
        half = backend == "torch" and precision == "auto"
        return Choice(backend, "cuda", "fp16" if half else "fp32")
    if device == "cuda":
        raise UserError("--device cuda: PyTorch sees no CUDA device")
    return Choice(backend, "cpu", "fp32")


def cpu_frames(cores: int | None = None) -> tuple[int, int]:
    """(frames in flight, threads per frame) for throughput on this many cores. One frame per
    core up to four; beyond that each frame gets several threads rather than more frames
    (memory and latency grow with the frames in flight). On a 2-core x86-64 CPU, two
    single-threaded runs gave bikes.mp4 end to end 19.3 FPS against 18.1 with one 2-thread
    run (docs/benchmarks.md)."""
    cores = cores or os.cpu_count() or 1
    frames = min(cores, 4)
    return frames, max(1, cores // frames)


def open_engine(path: str | Path, device: str = "auto", backend: str = "auto", precision: str = "auto",
                throughput: bool = False) -> Engine:
    """The style model at `path` in the engine `choose` picks; every failure is a UserError
    with one clear line. `throughput`: for video files rather than latency (webcam, images),
    a CPU engine takes one frame per core, each single-threaded (cpu_frames())."""
    path = check_model_file(path)
    choice = choose(path.suffix, device, backend, precision)
    frames, threads = cpu_frames() if throughput else (1, None)
    if choice.backend == "openvino":
        from stylestream.backends.openvino import OpenVinoEngine
        return OpenVinoEngine(path, threads=threads, streams=frames, precision=choice.precision)
    if choice.backend == "onnxruntime":
        from stylestream.backends.onnxruntime import OnnxEngine
        return OnnxEngine(path, hardware().ort_gpu if choice.device == "cuda" else (), choice.require_gpu,
                          fp16=choice.precision == "fp16", threads=threads, concurrent_calls=frames)
    if choice.backend == "torch":
        from stylestream.backends.torch import TorchEngine
        return TorchEngine(path, device=choice.device, half=choice.precision == "fp16")
    from stylestream.backends.torch import TorchScriptEngine
    return TorchScriptEngine(path, choice.device)

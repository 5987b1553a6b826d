"""`stylestream info`: what this installation can run on, and which styles it ships."""
from __future__ import annotations

import platform
import zipfile


def _version(module: str) -> str:
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "?")
    except Exception as exc:  # a broken optional install should not break `info`
        return f"unavailable ({exc.__class__.__name__})"


def collect() -> dict:
    from stylenets.metadata import read_metadata
    from stylestream import __version__
    from stylestream.backends import choose, hardware
    from stylestream.zoo import zoo_models

    versions = {"stylestream": __version__, "python": platform.python_version()}
    for mod in ("torch", "torchvision", "onnxruntime", "openvino", "av", "cv2", "numpy"):
        versions[mod] = _version(mod)
    try:
        import av
        versions["ffmpeg"] = ".".join(map(str, av.ffmpeg_version_info)) if isinstance(
            av.ffmpeg_version_info, tuple) else str(av.ffmpeg_version_info)
    except Exception:
        pass
    hw = hardware()
    cuda = cuda_device_name() if hw.cuda_devices else None
    # What a job with the default options would run a zoo style on.
    chosen = choose(".onnx")
    job = {"backend": chosen.backend, "device": chosen.device, "precision": chosen.precision}
    zoo = {}
    for name, sizes in zoo_models().items():
        zoo[name] = {arch: {**read_metadata(path), "path": str(path), "file_mb": round(path.stat().st_size / 2**20, 2)}
                     for arch, path in sizes.items()}
    return {"versions": versions, "onnxruntime_providers": list(hw.ort_providers), "cuda_devices": hw.cuda_devices,
            "cuda_device": cuda, "cuda_usable_by": gpu_engines(), "default_engine": job, "zoo": zoo}


def cuda_device_name() -> str | None:
    """The first NVIDIA device's name, asked of the driver (libcuda) as the hardware probe
    does: known even where neither PyTorch nor onnxruntime-gpu is installed."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        device, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGet(ctypes.byref(device), 0) != 0 \
                or cuda.cuDeviceGetName(name, len(name), device) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return name.value.decode(errors="replace") or None


def gpu_engines() -> list[str]:
    """The installed engines that can run on this machine's GPU (none without one)."""
    from stylestream.backends import hardware

    hw = hardware()
    if not hw.cuda_devices:
        return []
    return [f"onnxruntime ({', '.join(hw.ort_gpu)})"] * bool(hw.ort_gpu) + ["torch"] * hw.torch_cuda


def describe_model(spec: str) -> dict:
    """What `stylestream info MODEL` says of a model file or zoo name: its metadata and kind,
    file size, parameter count and inputs/outputs (ONNX: read from the graph, nothing run;
    TorchScript: from its metadata only, nothing unpickled), and the engine, device and
    precision a job with the default options would run it on here."""
    from pathlib import Path

    from stylenets.metadata import ARBITRARY_ENCODER_KIND, GENERATOR_KIND, read_metadata
    from stylestream.backends import choose
    from stylestream.backends.base import KIND_NAMES, check_model_file, macs_per_pixel
    from stylestream.errors import UserError
    from stylestream.segmentation import SEGMENTATION_KIND
    from stylestream.zoo import resolve_style

    path = Path(spec).expanduser()
    if not path.exists():
        on_gpu = choose(".onnx").device == "cuda"
        path = resolve_style(spec, "auto", on_gpu=on_gpu)      # a zoo name, or one clear error
    path = check_model_file(path)
    summary = {"path": str(path), "file_mb": round(path.stat().st_size / 2**20, 3)}
    if path.suffix.lower() == ".onnx":
        summary.update(_onnx_graph(path))
    else:
        from stylestream.backends.torch import _is_checkpoint

        if _is_checkpoint(path):
            raise UserError(f"{path}: a training checkpoint, not an exported model; export it with "
                            f"`python -m exports {path} OUT.onnx` and use OUT.onnx")
        try:
            summary["metadata"] = read_metadata(path)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise UserError(f"{path}: not a TorchScript model ({exc})") from None
        summary.update(parameters=None, inputs=None, outputs=None)
    meta = summary["metadata"]
    kind = meta.get("kind")
    summary["kind"] = kind
    summary["kind_name"] = KIND_NAMES.get(kind, "not a stylestream model" if kind is None else kind.replace(".", " "))
    summary["macs_per_pixel"] = macs_per_pixel(meta)
    if kind is None:
        summary["engine"] = None
    elif kind in (ARBITRARY_ENCODER_KIND, SEGMENTATION_KIND):      # always ONNX Runtime's, on the CPU
        summary["engine"] = {"backend": "onnxruntime", "device": "cpu", "precision": "fp32"}
    else:
        c = choose(path.suffix, generator=kind == GENERATOR_KIND)
        summary["engine"] = {"backend": c.backend, "device": c.device, "precision": c.precision}
    return summary


def _onnx_graph(path) -> dict:
    """Metadata, parameter count and named, shaped inputs and outputs of an ONNX file."""
    import math

    import onnx

    from stylestream.errors import UserError

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: a damaged or foreign file
        raise UserError(f"{path}: not a readable ONNX model ({exc.__class__.__name__})") from None

    def shape(value) -> list:
        dims = value.type.tensor_type.shape.dim
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]

    initialized = {t.name for t in proto.graph.initializer}
    return {
        "metadata": {p.key: p.value for p in proto.metadata_props},
        "parameters": sum(math.prod(t.dims) for t in proto.graph.initializer),
        "inputs": [{"name": v.name, "shape": shape(v)} for v in proto.graph.input if v.name not in initialized],
        "outputs": [{"name": v.name, "shape": shape(v)} for v in proto.graph.output],
    }

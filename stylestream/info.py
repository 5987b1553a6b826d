"""`stylestream info`: what this installation can run on, and which styles it ships."""
from __future__ import annotations

import platform


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
    cuda = None
    if hw.cuda_devices:
        try:
            import torch
            if torch.cuda.is_available():
                cuda = torch.cuda.get_device_name(0)
        except Exception:
            pass
    # What a job with the default options would run a zoo style on.
    chosen = choose(".onnx")
    job = {"backend": chosen.backend, "device": chosen.device, "precision": chosen.precision}
    zoo = {}
    for name, sizes in zoo_models().items():
        zoo[name] = {arch: {**read_metadata(path), "path": str(path), "file_mb": round(path.stat().st_size / 2**20, 2)}
                     for arch, path in sizes.items()}
    return {"versions": versions, "onnxruntime_providers": list(hw.ort_providers), "cuda_devices": hw.cuda_devices,
            "cuda_device": cuda, "default_engine": job, "zoo": zoo}

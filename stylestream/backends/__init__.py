"""Inference engines behind one interface (base.Engine): ONNX Runtime, OpenVINO, TorchScript
and PyTorch's CUDA engine; select.open_engine picks and opens one."""
from stylestream.backends.base import Engine, check_kind, check_model_file
from stylestream.backends.select import Choice, choose, cpu_frames, hardware, open_engine

__all__ = ["Choice", "Engine", "check_kind", "check_model_file", "choose", "cpu_frames", "hardware", "open_engine"]

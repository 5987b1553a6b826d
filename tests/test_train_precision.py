"""The trainers' default precision: bf16 only where the device computes it natively."""
import torch

from trainers import services
from trainers.config import ServiceOptions

CPU = torch.device("cpu")


def test_default_is_auto():
    assert ServiceOptions().precision == "auto"


def test_auto_is_fp32_on_a_cpu_without_native_bf16(monkeypatch):
    monkeypatch.setattr(services, "native_cpu_bf16", lambda: False)
    assert services.resolve_precision(CPU, "auto") == "fp32"
    with services.autocast(CPU, "auto"):
        assert not torch.is_autocast_enabled("cpu")


def test_auto_is_bf16_on_a_cpu_with_native_bf16(monkeypatch):
    monkeypatch.setattr(services, "native_cpu_bf16", lambda: True)
    assert services.resolve_precision(CPU, "auto") == "bf16"
    with services.autocast(CPU, "auto"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_an_explicit_precision_is_kept(monkeypatch):
    monkeypatch.setattr(services, "native_cpu_bf16", lambda: False)
    assert services.resolve_precision(CPU, "bf16") == "bf16"
    assert services.resolve_precision(CPU, "fp32") == "fp32"

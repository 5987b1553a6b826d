"""The exported form of a StyleGAN generator, and its export.

One graph serves every use: `(z, z_mix, mix_layer, psi, noise_mode) → image`.
  z, z_mix    N × z_dim float32 latents; z_mix = z (or mix_layer = num_ws) means no mixing
  mix_layer   int64 scalar: style layers from this one on take z_mix's style
  psi         float32 scalar: truncation, w_avg + psi·(w − w_avg); 1 = none, 0 = the average image
  noise_mode  int64 scalar: 0 none, 1 the constant noise stored in the model, 2 fresh random noise
  image       N × 3 × R × R float32 RGB in [0, 1]
Batch size is dynamic. Parity is checked with noise modes 0 and 1 (random noise cannot match).
"""
from __future__ import annotations

from pathlib import Path

import torch

from exports.formats import Interface, export_onnx, export_torchscript

INPUTS = ["z", "z_mix", "mix_layer", "psi", "noise_mode"]
OUTPUT = "image"


class GeneratorGraph(torch.nn.Module):
    def __init__(self, G: torch.nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z, z_mix, mix_layer, psi, noise_mode):
        img = self.G.synthesis(self.G.styles(z, psi, z_mix, mix_layer), noise_mode)
        return (img * 0.5 + 0.5).clamp(0, 1)


def generator_interface(z_dim: int, num_ws: int) -> Interface:
    def examples(seed: int) -> list[tuple[torch.Tensor, ...]]:
        g = torch.Generator().manual_seed(seed)
        z2, z3 = torch.randn(2, z_dim, generator=g), torch.randn(3, z_dim, generator=g)
        scalar = lambda v, dtype: torch.tensor(v, dtype=dtype)  # noqa: E731
        return [  # mixed, truncated, constant noise; then a plain batch of another size without noise
            (z2, torch.randn(2, z_dim, generator=g), scalar(num_ws // 2, torch.int64), scalar(0.7, torch.float32),
             scalar(1, torch.int64)),
            (z3, z3, scalar(num_ws, torch.int64), scalar(1.0, torch.float32), scalar(0, torch.int64)),
        ]

    batch = {0: "batch"}
    return Interface(INPUTS, [OUTPUT], {"z": batch, "z_mix": batch, OUTPUT: batch}, examples)


def export_generator(G: torch.nn.Module, onnx_path: str | Path, metadata: dict,
                     torchscript: bool = True) -> dict[str, tuple[Path, float]]:
    """`x.onnx` and `x.pt` beside it, both parity-checked; returns {variant: (path, parity)}."""
    onnx_path = Path(onnx_path)
    graph, iface = GeneratorGraph(G), generator_interface(G.z_dim, G.num_ws)
    meta = {**metadata, "z_dim": G.z_dim, "num_ws": G.num_ws, "resolution": G.resolution,
            "inputs": ",".join(INPUTS)}
    out = {"onnx": (onnx_path, export_onnx(graph, onnx_path, meta, interface=iface))}
    if torchscript:
        p = onnx_path.with_suffix(".pt")
        out["torchscript"] = (p, export_torchscript(graph, p, meta, interface=iface))
    return out

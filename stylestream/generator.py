"""StyleGAN generators at run time: one interface over ONNX Runtime and TorchScript, and
the latents they take (seeds, slerp walks).

A generator file (kind `stylestream.generator`, see exports/generator.py) maps latents z to
RGB images of its training resolution, with truncation ψ, a noise mode and style mixing.
"""
from __future__ import annotations

import numpy as np

from stylenets.metadata import GENERATOR_KIND
from stylestream.backends.base import check_kind, check_model_file, first_line
from stylestream.backends.select import choose, hardware
from stylestream.errors import UserError

NOISE_MODES = {"none": 0, "const": 1, "random": 2}
MAX_SEED = 2**32 - 1


class GeneratorEngine:
    def __init__(self, path, device: str = "auto"):
        self.path = check_model_file(path)
        choice = choose(self.path.suffix, device, generator=True)
        self.backend, self.precision = choice.backend, choice.precision
        if choice.backend == "onnxruntime":
            from stylestream.backends.onnxruntime import onnx_session

            gpu_providers = hardware().ort_gpu if choice.device == "cuda" else ()
            self.session, gpu = onnx_session(self.path, gpu_providers, choice.require_gpu,
                                             fp16=choice.precision == "fp16")
            self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
            self.device = "cuda" if gpu else "cpu"
            if gpu != "TensorrtExecutionProvider":
                self.precision = "fp32"
        else:
            from stylestream.backends.torch import load_torchscript

            self.module, self.metadata = load_torchscript(self.path, choice.device)
            self.device = choice.device
        check_kind(self.path, self.metadata, GENERATOR_KIND)
        try:
            self.z_dim, self.num_ws = int(self.metadata["z_dim"]), int(self.metadata["num_ws"])
            self.resolution = int(self.metadata["resolution"])
        except (KeyError, ValueError):
            raise UserError(f"{self.path}: generator metadata lacks z_dim, num_ws or resolution") from None
        self.name = self.metadata.get("name") or self.path.stem

    def __call__(self, z: np.ndarray, psi: float = 1.0, noise: str = "const", z_mix: np.ndarray | None = None,
                 mix_layer: int | None = None) -> np.ndarray:
        """N × z_dim latents → N × R × R × 3 uint8 RGB. Layers from `mix_layer` on take `z_mix`'s style."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        feed = {"z": z, "z_mix": z if z_mix is None else np.ascontiguousarray(z_mix, dtype=np.float32),
                "mix_layer": np.array(self.num_ws if mix_layer is None else mix_layer, dtype=np.int64),
                "psi": np.array(psi, dtype=np.float32), "noise_mode": np.array(NOISE_MODES[noise], dtype=np.int64)}
        try:
            if self.backend == "onnxruntime":
                img = self.session.run(None, feed)[0]
            else:
                import torch
                with torch.inference_mode():
                    args = [torch.from_numpy(feed[k]).to(self.device) for k in feed]
                    img = self.module(*args).float().cpu().numpy()
        except Exception as exc:  # a generator file whose graph does not take this interface
            raise UserError(f"{self.path}: generator failed ({first_line(exc)})") from None
        return (img.transpose(0, 2, 3, 1) * 255 + 0.5).clip(0, 255).astype(np.uint8)


def parse_seeds(spec: str) -> list[int]:
    """'1-16', '3,7,9', '0-3,10' → seeds, in order."""
    seeds: list[int] = []
    for part in spec.split(","):
        a, dash, b = part.strip().partition("-")
        try:
            lo, hi = int(a), int(b) if dash else int(a)
        except ValueError:
            raise UserError(f"bad seed list {spec!r}: use e.g. 1-16 or 3,7,9") from None
        if not 0 <= lo <= hi <= MAX_SEED:
            raise UserError(f"bad seed range {part.strip()!r}: seeds go from 0 to {MAX_SEED}, low to high")
        seeds.extend(range(lo, hi + 1))
        if len(seeds) > 4096:
            raise UserError("too many seeds (at most 4096)")
    return seeds


def seed_latents(seeds: list[int], z_dim: int) -> np.ndarray:
    """One standard normal z per seed; a seed gives the same z whatever the others are."""
    return np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds]).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: keeps |z| near sqrt(z_dim), where Gaussian latents live
    (a straight line between two of them dips toward the origin)."""
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


class LatentWalk:
    """An endless walk in z: keyframe k is the latent of seed (seed + k); frames slerp between
    consecutive keyframes, `frames_per_key` frames apart."""

    def __init__(self, z_dim: int, seed: int, frames_per_key: int):
        self.z_dim, self.seed, self.frames_per_key = z_dim, seed, max(1, frames_per_key)
        self._keys: dict[int, np.ndarray] = {}

    def key(self, k: int) -> np.ndarray:
        if k not in self._keys:
            self._keys = {j: v for j, v in self._keys.items() if j >= k - 1}  # keep memory flat
            self._keys[k] = seed_latents([(self.seed + k) % (MAX_SEED + 1)], self.z_dim)[0]
        return self._keys[k]

    def __call__(self, frame: int) -> np.ndarray:
        k, i = divmod(frame, self.frames_per_key)
        return slerp(self.key(k), self.key(k + 1), i / self.frames_per_key).astype(np.float32)

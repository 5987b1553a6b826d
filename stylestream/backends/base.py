"""The interface every engine has, and the checks every model file gets.

An engine takes a float32 NCHW RGB batch in [0, 1] of any height and width that are a
multiple of `engine.multiple` and returns the stylized batch, same shape and range. The
returned array may be reused by the same thread's next call: copy or convert it first.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stylenets.metadata import ARBITRARY_ENCODER_KIND, ARBITRARY_FRAME_KIND, GENERATOR_KIND, STYLE_KIND
from stylestream.errors import UserError

DEVICES = ("auto", "cpu", "cuda")
MODEL_SUFFIXES = (".onnx", ".pt", ".pth", ".torchscript")
KIND_NAMES = {STYLE_KIND: "a style model", GENERATOR_KIND: "a generator",
              ARBITRARY_FRAME_KIND: "an arbitrary-style frame net", ARBITRARY_ENCODER_KIND: "an arbitrary-style encoder"}
KIND_USES = {STYLE_KIND: "stylestream video, webcam or image", GENERATOR_KIND: "stylestream generate or dream",
             ARBITRARY_FRAME_KIND: "--style-image PICTURE", ARBITRARY_ENCODER_KIND: "--style-image PICTURE, giving "
             "its .frame.onnx as --style"}


class Engine:
    backend = "?"
    concurrent_calls = 1     # how many frames may be in __call__ at once, from different threads
    precision = "fp32"       # the arithmetic the net runs in: fp32, bf16 (OpenVINO) or fp16 (GPU)

    def __init__(self, path: Path, metadata: dict[str, str], device: str):
        self.path, self.metadata, self.device = path, metadata, device
        self.name = metadata.get("name") or path.stem
        # Two stride-2 downsamplings: sizes must be multiples of 4.
        self.multiple = int(metadata.get("multiple", 4))

    @property
    def macs_per_pixel(self) -> int | None:
        """The net's cost, from its metadata; None for a net of unknown architecture."""
        return macs_per_pixel(self.metadata)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def macs_per_pixel(metadata: dict[str, str]) -> int | None:
    """Multiply-adds per pixel of a stylestream net (stylenets.transformer_net) from the
    architecture, width and residual blocks its metadata records; a net's border
    margin is left out. The zoo's compact nets cost 10 k, the full nets 154 k."""
    try:
        arch, w, blocks = metadata["arch"], int(metadata.get("width", 32)), int(metadata.get("res_blocks", 5))
    except (KeyError, ValueError):
        return None

    def conv(k: int, cin: int, cout: int, scale: int, groups: int = 1) -> int:
        """k×k convolution whose output has 1/scale² of the pixels."""
        return k * k * cin * cout // groups // (scale * scale)

    if arch == "johnson":                      # 9×9 edges at full resolution, blocks at ¼
        return (conv(9, 3, w, 1) + conv(3, w, 2 * w, 2) + conv(3, 2 * w, 4 * w, 4)
                + blocks * 2 * conv(3, 4 * w, 4 * w, 4)
                + conv(3, 4 * w, 2 * w, 2) + conv(3, 2 * w, w, 1) + conv(9, w, 3, 1))
    if arch == "compact":                      # pixel-unshuffled to ½, depthwise blocks at ¼
        c = 2 * w
        return (conv(3, 12, w, 2) + conv(3, w, c, 4)
                + blocks * 2 * (conv(3, c, c, 4, groups=c) + conv(1, c, c, 4))
                + conv(3, c, w, 2) + conv(3, w, 12, 2))
    return None


def check_kind(path: Path, metadata: dict, expected: str = STYLE_KIND) -> None:
    """Style nets and generators are both .onnx/.pt files: the `kind` metadata tells them apart."""
    kind = metadata.get("kind")
    if kind is None:
        raise UserError(f"{path}: not a stylestream model (it carries no stylestream metadata)")
    if kind != expected:
        use = f"; use it with {KIND_USES[kind]}" if kind in KIND_USES else ""
        raise UserError(f"{path}: is {KIND_NAMES.get(kind, repr(kind))}, not {KIND_NAMES[expected]}{use}")


def check_model_file(path: str | Path) -> Path:
    """The checks every model file gets before a runtime opens it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise UserError(f"{path}: unknown model type (expected .onnx or .pt)")
    return path


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__

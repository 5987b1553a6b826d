"""Any picture as a style: the arbitrary-style network's two ONNX files (stylenets.arbitrary,
exports.arbitrary) at run time.

The style encoder runs once per style picture and gives its style code; several codes mix as
a weighted average. The code and the strength are then written into a copy of the frame net
as constants, which leaves a one-input style model that every engine of stylestream.backends
opens like a zoo net; the frame's own statistics are still computed per frame, so strength 0
is the frame's own result, not a pixel blend.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from stylenets.metadata import ARBITRARY_ENCODER_KIND, ARBITRARY_FRAME_KIND, STYLE_KIND
from stylestream.errors import UserError

MODEL_DIR = Path(__file__).parent / "models" / "arbitrary"
DEFAULT_MODEL = MODEL_DIR / "adain.frame.onnx"
NOT_INSTALLED = (f"no arbitrary-style model is installed (looked for {DEFAULT_MODEL}); train one with "
                 "`stylestream train-arbitrary` (see docs/arbitrary_style.md) and pass its OUT.frame.onnx as --style")
MIN_STYLE_SIDE = 16     # a smaller picture has no texture to take a style from
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def style_pictures(specs: list[str] | tuple[str, ...]) -> list[Path]:
    """The pictures named by --style-image: files, or folders (their pictures, sorted)."""
    out: list[Path] = []
    for spec in specs:
        p = Path(spec).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in PICTURE_SUFFIXES and f.is_file())
            if not found:
                raise UserError(f"--style-image {p}: a folder with no pictures in it")
            out += found
        elif not p.is_file():
            raise UserError(f"--style-image {p}: not found")
        else:
            out.append(p)
    return out


def mix_weights(count: int, mix: tuple[float, ...] | list[float] | None) -> list[float]:
    """--mix: one weight per picture (normalised), or with two pictures the second one's weight."""
    if mix is None:
        return [1.0 / count] * count
    mix = [float(w) for w in mix]
    if count == 2 and len(mix) == 1:
        mix = [1.0 - mix[0], mix[0]]
    if len(mix) != count:
        raise UserError(f"--mix takes one weight per --style-image ({count}), or one with two pictures")
    if any(not 0.0 <= w <= 1.0 for w in mix) or sum(mix) <= 0:
        raise UserError("--mix weights must be between 0 and 1, not all 0")
    return [w / sum(mix) for w in mix]


def read_style_picture(path: Path, side: int) -> np.ndarray:
    """1×3×H×W float32 in [0, 1], the longer side `side`, both sides multiples of 4."""
    import cv2

    from stylestream.imagefile import read_image

    rgb, _, _ = read_image(path)    # missing, empty, damaged and oversized pictures are UserErrors
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_STYLE_SIDE:
        raise UserError(f"--style-image {path}: {w}×{h} is too small to take a style from "
                        f"(at least {MIN_STYLE_SIDE} px a side)")
    scale = side / max(h, w)
    size = (max(4, round(w * scale / 4) * 4), max(4, round(h * scale / 4) * 4))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def _metadata(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


class ArbitraryModel:
    """A frame net and the style encoder it names; style codes and one-input style models."""

    def __init__(self, frame_path: str | Path | None):
        import onnx

        path = Path(frame_path) if frame_path else DEFAULT_MODEL
        if not path.is_file():
            raise UserError(NOT_INSTALLED if frame_path is None else f"model not found: {path}")
        try:
            self.frame = onnx.load(str(path))
        except Exception as exc:
            raise UserError(f"{path}: not a loadable ONNX model ({exc.__class__.__name__})") from None
        self.path, self.metadata = path, _metadata(self.frame)
        if self.metadata.get("kind") != ARBITRARY_FRAME_KIND:
            raise UserError(f"{path}: not an arbitrary-style frame net; --style-image needs one "
                            "(a .frame.onnx from `stylestream train-arbitrary`), or leave out --style")
        self.encoder_path = path.with_name(self.metadata.get("style_encoder", ""))
        if not self.encoder_path.is_file():
            raise UserError(f"{path}: its style encoder {self.encoder_path.name} is not beside it")
        self.style_size = int(self.metadata.get("style_size", 256))
        self._encoder = None

    def _encoder_session(self):
        if self._encoder is None:
            from stylestream.backends.onnxruntime import onnx_session
            self._encoder, _ = onnx_session(self.encoder_path, threads=os.cpu_count())
            kind = dict(self._encoder.get_modelmeta().custom_metadata_map).get("kind")
            if kind != ARBITRARY_ENCODER_KIND:
                raise UserError(f"{self.encoder_path}: not an arbitrary-style encoder")
        return self._encoder

    def style_code(self, picture: Path) -> np.ndarray:
        """1×K: the style code of one picture, computed once."""
        session = self._encoder_session()
        return session.run(None, {session.get_inputs()[0].name: read_style_picture(picture, self.style_size)})[0]

    def mixed_code(self, pictures: list[Path], weights: list[float]) -> np.ndarray:
        return sum(w * self.style_code(p) for p, w in zip(pictures, weights)).astype(np.float32)

    def bake(self, code: np.ndarray, strength: float, name: str, folder: str | Path) -> Path:
        """A one-input style model (kind stylestream.style) with `code` and `strength` as constants."""
        import onnx
        from onnx import numpy_helper

        proto = onnx.ModelProto()
        proto.CopyFrom(self.frame)
        constants = {"style_code": code.astype(np.float32), "strength": np.array([strength], np.float32)}
        kept = [i for i in proto.graph.input if i.name not in constants]
        if len(kept) != 1 or len(proto.graph.input) != 3:
            raise UserError(f"{self.path}: expected inputs input, style_code and strength")
        del proto.graph.input[:]
        proto.graph.input.extend(kept)
        proto.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
        meta = {**self.metadata, "kind": STYLE_KIND, "name": name, "strength": f"{strength:g}"}
        del proto.metadata_props[:]
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, str(v)
        out = Path(folder) / f"{name}.onnx"
        onnx.save(proto, str(out))
        return out


def style_name(pictures: list[Path], weights: list[float]) -> str:
    if len(pictures) == 1:
        return pictures[0].stem
    return "+".join(f"{p.stem}{w:.2g}" for p, w in zip(pictures, weights))


def open_arbitrary_engine(model: ArbitraryModel, pictures: list[Path], mix, strength: float, open_engine):
    """The engine (from `open_engine(path)`) of the style model for `pictures` mixed by `mix`."""
    weights = mix_weights(len(pictures), mix)
    code = model.mixed_code(pictures, weights)
    name = style_name(pictures, weights)
    with tempfile.TemporaryDirectory(prefix="stylestream-") as folder:
        engine = open_engine(model.bake(code, strength, name, folder))
    engine.path = model.path        # the file the user named, for messages and overwrite checks
    return engine

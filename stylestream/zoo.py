"""The style zoo: models shipped inside the package, addressed by name (`--style starry`)."""
from __future__ import annotations

from pathlib import Path

from stylestream.errors import UserError

ZOO_DIR = Path(__file__).parent / "models"
DEFAULT_STYLE = "starry"


def zoo_models() -> dict[str, Path]:
    """name → fp32 ONNX file. Variants (`x.fp16.onnx`) are not separate styles."""
    return {p.name.removesuffix(".onnx"): p for p in sorted(ZOO_DIR.glob("*.onnx")) if ".fp16." not in p.name}


def resolve_style(spec: str | None) -> Path:
    """A zoo name or a path to .onnx / .pt."""
    spec = spec or DEFAULT_STYLE
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".onnx", ".pt", ".pth") or path.exists():
        if not path.exists():
            raise UserError(f"model not found: {path}")
        return path
    models = zoo_models()
    if spec in models:
        return models[spec]
    names = ", ".join(models) or "none installed"
    raise UserError(f"unknown style {spec!r}: give a .onnx/.pt file or a zoo name ({names})")

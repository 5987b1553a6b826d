"""The style zoo: models shipped inside the package, addressed by name (`--style starry`).

Each style ships in two sizes: `NAME.onnx` is the full Johnson net, `NAME.compact.onnx` the
compact net that runs in real time on a CPU. `--arch auto` picks the compact one unless the
engine will run on a GPU.
"""
from __future__ import annotations

from pathlib import Path

from stylestream.errors import UserError

ZOO_DIR = Path(__file__).parent / "models"
GENERATOR_DIR = ZOO_DIR / "generators"
DEFAULT_STYLE = "starry"
DEFAULT_GENERATOR = "starry"
ARCH_CHOICES = ("auto", "johnson", "compact")


def zoo_models() -> dict[str, dict[str, Path]]:
    """name → {arch: fp32 ONNX file}. fp16 variants (`x.fp16.onnx`) are not listed."""
    zoo: dict[str, dict[str, Path]] = {}
    for p in sorted(ZOO_DIR.glob("*.onnx")):
        stem = p.name.removesuffix(".onnx")
        if stem.endswith(".fp16"):
            continue
        name, _, size = stem.partition(".")
        zoo.setdefault(name, {})["compact" if size == "compact" else "johnson"] = p
    return zoo


def _model_file(spec: str, what: str) -> Path | None:
    """`spec` as a file path when it names one (by suffix or because it exists), else None
    for a zoo name. A model file that is not there is an error."""
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".onnx", ".pt", ".pth") or path.exists():
        if not path.exists():
            raise UserError(f"{what} not found: {path}")
        return path
    return None


def resolve_style(spec: str | None, arch: str = "auto", on_gpu: bool = False) -> Path:
    """A zoo name or a path to .onnx / .pt. For zoo names, `arch` picks the size; `auto`
    means the compact net on CPU and the full one on a GPU, falling back to whichever exists."""
    spec = spec or DEFAULT_STYLE
    path = _model_file(spec, "model")
    if path is not None:
        return path
    sizes = _zoo_entry(spec, zoo_models(), "style", "a .onnx/.pt file")
    if arch == "auto":
        preferred = ("johnson", "compact") if on_gpu else ("compact", "johnson")
        return next(sizes[a] for a in preferred if a in sizes)
    if arch not in sizes:
        raise UserError(f"style {spec!r} has no {arch} model (it has: {', '.join(sizes)})")
    return sizes[arch]


def zoo_generators() -> dict[str, Path]:
    """name → the StyleGAN generators shipped in the package (`--generator starry`)."""
    return {p.name.removesuffix(".onnx"): p for p in sorted(GENERATOR_DIR.glob("*.onnx"))}


def resolve_generator(spec: str | None) -> Path:
    """A zoo generator's name or a path to a generator .onnx / .pt; None is the default one."""
    spec = spec or DEFAULT_GENERATOR
    path = _model_file(spec, "generator")
    if path is not None:
        return path
    return _zoo_entry(spec, zoo_generators(), "generator", "a .onnx/.pt file from train-gan")


def _zoo_entry(name: str, entries: dict, what: str, files: str):
    """`entries[name]`, or a UserError that lists the zoo's names."""
    if name not in entries:
        raise UserError(f"unknown {what} {name!r}: give {files} or a zoo name ({', '.join(entries) or 'none installed'})")
    return entries[name]

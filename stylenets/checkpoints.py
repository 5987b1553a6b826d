"""Trained style networks as files: training checkpoints (read without unpickling) and
stylestream's ONNX exports, and the metadata an export of them carries."""
from __future__ import annotations

import hashlib
from pathlib import Path

from stylenets.metadata import STYLE_KIND, read_metadata
from stylenets.safe_load import load_tensors


def load_state(path: str | Path, what: str = "training checkpoint") -> dict:
    """A checkpoint's contents, as tensors and plain containers only. Raises ValueError with
    a one-line reason."""
    state = load_tensors(path, what)
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path}: not a stylestream {what}")
    return state


def load_style_checkpoint(path: str | Path):
    """(transform net in eval mode, its training config as a dict) from a fast-NST checkpoint."""
    from stylenets.transformer_net import from_config

    state = load_state(path)
    try:
        model = from_config(state["extra"]["model_config"])
        model.load_state_dict(state["state/model"])
        return model.eval(), state["extra"]["config"]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a style-network training checkpoint ({exc.__class__.__name__})") from None


def load_style_net(path: str | Path, option: str):
    """A trained transform net in eval mode, from a training checkpoint or an ONNX export
    (the zoo ships only those). `option` names the flag in messages."""
    if not Path(path).is_file():
        raise ValueError(f"{option} {path}: not found")
    if Path(path).suffix.lower() == ".onnx":
        from stylenets.onnx_import import net_from_onnx
        net, _ = net_from_onnx(path)
    else:
        net, _ = load_style_checkpoint(path)
    return net.eval()


def checkpoint_steps(path: str | Path | None) -> tuple[int, int]:
    """(a checkpoint's own step, the steps behind the --init chain it started from); for an
    ONNX export, (0, the steps its metadata records)."""
    if not path or not Path(path).is_file():
        return 0, 0
    if Path(path).suffix.lower() == ".onnx":
        return 0, int(read_metadata(path).get("steps", 0))
    state = load_state(path)
    extra = state.get("extra", {})
    before = extra.get("steps_before")
    if before is None:  # older checkpoints: follow their --init chain
        before = sum(checkpoint_steps(extra.get("config", {}).get("init")))
    return int(state.get("step", 0)), before


def style_metadata(config: dict, net_config: dict, step: int, before: int = 0) -> dict:
    """What an exported style net records of its training. `config`: the trainer's options
    as saved in its checkpoint. `steps` counts every step behind the weights; a fine-tune
    (--init) also records its own."""
    style_image = Path(config["style_image"])
    meta = {"kind": STYLE_KIND, "name": config.get("name") or style_image.stem, "style_image": style_image.name,
            "style_sha256": hashlib.sha256(style_image.read_bytes()).hexdigest(),
            "train_size": config.get("size"), "steps": before + step,
            **({"fine_tune_steps": step} if before else {})}
    for key in ("style_size", "content_weight", "style_weight", "style_loss", "content_layer", "temporal_weight"):
        if config.get(key) is not None:
            meta[key] = config[key]
    meta.update(net_config)
    if config.get("teacher"):
        meta.update(teacher=Path(config["teacher"]).name, distill_weight=config.get("distill_weight"))
    return meta

"""Export an arbitrary-style network (stylenets.arbitrary) as its two ONNX files.

    PREFIX.encoder.onnx   input (1×3×H×W picture) → style_code (1×K); run once per style picture
    PREFIX.frame.onnx     input (N×3×H×W), style_code (1×K), strength (1) → output (N×3×H×W)

Each carries its metadata (`kind` names the method and the part; the frame net names its
encoder file) and is parity-checked against the PyTorch model by exports.formats.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn as nn

from exports.formats import Interface, _parity_inputs, export_onnx
from stylenets.arbitrary import METHOD, ArbitraryStyleNet, StyleEncoderGraph, code_features
from stylenets.metadata import ARBITRARY_ENCODER_KIND, ARBITRARY_FRAME_KIND

CODE, STRENGTH = "style_code", "strength"


def encoder_interface() -> Interface:
    hw = {2: "height", 3: "width"}
    return Interface(["input"], [CODE], {"input": hw}, lambda seed: [(x,) for x in _parity_inputs(8, seed)])


def frame_interface(encoder: StyleEncoderGraph) -> Interface:
    def examples(seed: int) -> list[tuple[torch.Tensor, ...]]:
        g = torch.Generator().manual_seed(seed)
        codes = [encoder(torch.rand(1, 3, 64, 48, generator=g)).detach() for _ in range(2)]
        return [(x, code, torch.tensor([s])) for x, code, s in zip(_parity_inputs(4, seed), codes, (1.0, 0.4))]

    hw = {0: "batch", 2: "height", 3: "width"}
    return Interface(["input", CODE, STRENGTH], ["output"], {"input": hw, "output": hw}, examples)


# What an export records of the trainer's options (trainers.arbitrary.config).
TRAINING_KEYS = ("size", "style_size", "content_weight", "style_weight", "stats_weight", "identity_weight",
                 "content_layer", "lr", "batch")


def training_metadata(config: dict, name: str, step: int) -> dict:
    return {"name": name, "steps": step, **{k: config[k] for k in TRAINING_KEYS if k in config}}


def export_arbitrary(net: ArbitraryStyleNet, prefix: str | Path, metadata: dict,
                     vgg_convolutions: nn.Sequential | None = None) -> dict[str, tuple[Path, float]]:
    """PREFIX.encoder.onnx and PREFIX.frame.onnx; returns {part: (path, parity)}. `metadata`:
    what both record of the training (style_size among it: the runtime sizes style pictures so).
    `vgg_convolutions` (stylenets.perceptual.load_vgg16_features): for a "vgg"-code network."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    net = net.float().eval().cpu()
    vgg = None
    if net.code == "vgg":
        if vgg_convolutions is None:
            raise ValueError("a vgg-code network's export needs VGG16's weights")
        vgg = code_features(copy.deepcopy(vgg_convolutions).float().cpu().to(memory_format=torch.contiguous_format))
    encoder = StyleEncoderGraph(net, vgg)
    enc_path = prefix.with_name(prefix.name + ".encoder.onnx")
    frame_path = prefix.with_name(prefix.name + ".frame.onnx")
    common = {**metadata, **net.config(), "method": METHOD, "code_size": net.code_size, "multiple": 4}
    out = {"encoder": (enc_path, export_onnx(encoder, enc_path,
                                             {**common, "kind": ARBITRARY_ENCODER_KIND},
                                             interface=encoder_interface()))}
    out["frame"] = (frame_path, export_onnx(net, frame_path, {**common, "kind": ARBITRARY_FRAME_KIND,
                                                              "style_encoder": enc_path.name},
                                            interface=frame_interface(encoder)))
    return out


def main(argv: list[str] | None = None) -> None:
    """python -m exports.arbitrary CHECKPOINT PREFIX: export a training checkpoint (mid-run too)."""
    import argparse
    import sys

    from stylenets.arbitrary import build
    from stylenets.checkpoints import load_state

    p = argparse.ArgumentParser(description="export an arbitrary-style training checkpoint as PREFIX.encoder.onnx "
                                            "and PREFIX.frame.onnx")
    p.add_argument("checkpoint")
    p.add_argument("prefix")
    p.add_argument("--vgg-weights", help="local VGG16 weights for a vgg-code network (else $STYLESTREAM_VGG_WEIGHTS, "
                                         "else torchvision's download)")
    args = p.parse_args(argv)
    try:
        state = load_state(args.checkpoint)
        net = build(state["extra"]["model_config"])
        net.load_state_dict(state["state/model"])
        config = state["extra"]["config"]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        print(f"error: {args.checkpoint}: not an arbitrary-style training checkpoint ({exc})", file=sys.stderr)
        raise SystemExit(2) from None
    steps = state["step"] + state["extra"].get("steps_before", 0)    # with the --init checkpoint's
    meta = training_metadata(config, Path(args.prefix).name, steps)
    vgg = None
    if net.code == "vgg":
        from stylenets.perceptual import VggWeightsError, load_vgg16_features
        try:
            vgg = load_vgg16_features(args.vgg_weights, last_layer="relu3_3")
        except VggWeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    for part, (path, diff) in export_arbitrary(net, args.prefix, meta, vgg).items():
        print(f"exported {part}: {path} (parity max |Δ| {diff:.2e})")


if __name__ == "__main__":
    main()

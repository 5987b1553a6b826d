"""Export a fast-NST training checkpoint: ONNX fp32 and fp16 and TorchScript, parity-checked.

    python -m exports CHECKPOINT OUT.onnx [--style-image PAINTING] [--margin PX]

For checkpoints trained elsewhere (a GPU machine): --style-image points at the painting
here, whose hash goes into the metadata. --margin (full nets) computes the picture on a
replicate-padded border that is cropped off again, for a net that paints its painting's
frame along the picture's border (stylenets.transformer_net.TransformerNet).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exports.formats import export_all
from stylenets.checkpoints import checkpoint_steps, load_style_checkpoint, style_metadata


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--style-image")
    p.add_argument("--margin", type=int, help="full (johnson) nets: border in px computed and cropped off")
    args = p.parse_args(argv)
    try:
        model, config = load_style_checkpoint(args.checkpoint)
        step, before = checkpoint_steps(args.checkpoint)
    except ValueError as exc:  # missing, damaged or not a checkpoint: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.margin is not None:
        if model.config()["arch"] != "johnson" or args.margin < 0:
            print("error: --margin takes a full (johnson) net and a size of at least 0 px", file=sys.stderr)
            raise SystemExit(2)
        model.margin = args.margin
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if args.style_image:
        config["style_image"] = args.style_image
    if not Path(config.get("style_image") or "").is_file():
        print(f"error: style image not found: {config.get('style_image')} (use --style-image)", file=sys.stderr)
        raise SystemExit(2)
    metadata = style_metadata(config, model.config(), step, before)
    for variant, (path, diff) in export_all(model.float(), args.out, metadata).items():
        print(f"exported {variant}: {path} (parity max |Δ| {diff:.2e})")


if __name__ == "__main__":
    main()

"""Score training checkpoints against the published reference outputs, to choose zoo models.

    python benchmarks/reference_sweep.py runs/zoo/*/checkpoint.pt [--json sweep.json]

For every checkpoint whose style has a reference (benchmarks/quality.py REFERENCES), the
test photo is resized to the reference's size, stylized by the checkpoint's net in fp32
PyTorch (padded to a multiple of 4 and cropped, as the runtime does), quantized to 8 bits, and scored as `stylestream eval style` scores it (relative
Gram distance over relu1_2…relu4_3 with the painting at 512 px, relu3_3 content distance).
Per style, the pick is a checkpoint no worse than the references on both axes if any is,
else the one whose worst ratio to the reference is lowest.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import REFERENCES, SHARED  # noqa: E402

from trainers.data import read_image  # noqa: E402
from stylenets.checkpoints import load_style_checkpoint  # noqa: E402
from stylenets.perceptual import VGGFeatures, load_vgg16_features, style_distances  # noqa: E402


def photo_at(path: Path, w: int, h: int) -> torch.Tensor:
    bgr = cv2.resize(cv2.imread(str(path)), (w, h), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).float().div(255).unsqueeze(0)


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    p.add_argument("--vgg-weights")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vgg = VGGFeatures(load_vgg16_features(args.vgg_weights)).to(dev)

    rows = []
    for ckpt in args.checkpoints:
        model, cfg = load_style_checkpoint(ckpt)
        model = model.to(dev)
        style = cfg.get("name") or Path(cfg["style_image"]).stem
        for ref_name, (ref_style, painting, photo) in REFERENCES.items():
            if ref_style != style:
                continue
            ref = read_image(args.shared / "reference" / ref_name).unsqueeze(0).to(dev)
            h, w = ref.shape[-2:]
            content = photo_at(args.shared / "content" / "test" / photo, w, h).to(dev)
            # As the runtime does (stylizer.processing_plan): pad to a multiple of 4, crop back.
            padded = torch.nn.functional.pad(content, (0, -w % 4, 0, -h % 4), mode="reflect")
            ours = (model(padded)[..., :h, :w].float().clamp(0, 1) * 255).round() / 255
            painting_t = read_image(args.shared / "styles" / painting, 512).unsqueeze(0).to(dev)
            mine = style_distances(vgg, ours, content, painting_t)
            theirs = style_distances(vgg, ref, content, painting_t)
            rows.append({"checkpoint": str(ckpt), "style": style, "reference": ref_name, "size": f"{w}x{h}",
                         "ours": {k: round(mine[k], 4) for k in ("style", "content")},
                         "reference_scores": {k: round(theirs[k], 4) for k in ("style", "content")},
                         "worst_ratio": round(max(mine["style"] / theirs["style"], mine["content"] / theirs["content"]), 4)})
            r = rows[-1]
            print(f"{ckpt.parent.name:48s} {ref_name:42s} style {r['ours']['style']:.4f} / {r['reference_scores']['style']:.4f}"
                  f"  content {r['ours']['content']:.4f} / {r['reference_scores']['content']:.4f}  worst {r['worst_ratio']:.3f}")

    picks = {}
    for style in sorted({r["style"] for r in rows}):
        by_ckpt: dict[str, float] = {}
        for r in rows:
            if r["style"] == style:
                by_ckpt[r["checkpoint"]] = max(by_ckpt.get(r["checkpoint"], 0.0), r["worst_ratio"])
        picks[style] = min(by_ckpt, key=by_ckpt.get)
        print(f"pick {style}: {picks[style]} (worst ratio to reference {by_ckpt[picks[style]]:.3f})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "picks": picks}, indent=1))


if __name__ == "__main__":
    main()

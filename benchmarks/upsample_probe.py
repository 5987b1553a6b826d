"""Where a Johnson net's even/odd pixel grain comes from: the same trained weights run with
the decoder's nearest-neighbour upsampling (as trained) and with bilinear upsampling in its
place, on one photo. A grain that the swap removes is made by the nearest-neighbour copy,
not painted by the style; the swap also blurs, since the weights were not trained for it.

    python benchmarks/upsample_probe.py MODEL.onnx|CHECKPOINT.pt [--photo chicago] [--size 510] [--sheet out.png]

Figures per mode: the mean offset between even and odd rows (and columns) of the output's
luma, in 8-bit levels (the photo's own beside it), the high-pass RMS (luma minus its
Gaussian blur at σ = 1 px), and benchmarks/stripes.py's score. --sheet writes a crop of
each at 3× (nearest, bilinear), to look at.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stripes import luma, stripe_score  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data"


def grain(bgr: np.ndarray) -> dict:
    unit = luma(bgr)
    y = unit * 255          # 8-bit levels for the offsets and the RMS; the stripe score takes [0, 1]
    h, w = y.shape[0] // 2 * 2, y.shape[1] // 2 * 2
    return {"even_odd_rows": float(np.abs((y[0:h:2] - y[1:h:2]).mean(1)).mean()),
            "even_odd_cols": float(np.abs((y[:, 0:w:2] - y[:, 1:w:2]).mean(0)).mean()),
            "highpass_rms": float((y - cv2.GaussianBlur(y, (0, 0), 1.0)).std()),
            "stripes": round(stripe_score(unit).score, 1)}


def main() -> None:
    import torch

    from stylenets.checkpoints import load_style_net
    from stylenets.transformer_net import UpsampleConv

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--photo", default="chicago", help="a test photo's stem (default chicago)")
    p.add_argument("--size", type=int, default=510, help="longer side (default 510, the published reference's)")
    p.add_argument("--sheet", help="write the 3× crops here")
    args = p.parse_args()
    net = load_style_net(args.model, "model").float()
    photo = cv2.imread(str(next((SHARED / "content" / "test").glob(f"{args.photo}.*"))))
    s = args.size / max(photo.shape[:2])
    size = (round(photo.shape[1] * s / 4) * 4, round(photo.shape[0] * s / 4) * 4)
    photo = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(photo[:, :, ::-1])).permute(2, 0, 1)[None].float() / 255
    results, crops = {"photo": grain(photo)}, []
    for mode in ("nearest", "bilinear"):
        for m in net.modules():
            if isinstance(m, UpsampleConv):
                m.mode = mode
        with torch.no_grad():
            out = (net(x)[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)[:, :, ::-1]
        results[mode] = grain(out)
        h, w = out.shape[:2]
        crops.append(out[h // 16:h // 16 + 100, w // 2:w // 2 + 130])
    for name, r in results.items():
        print(f"{name:9s} even/odd rows {r['even_odd_rows']:5.2f}  cols {r['even_odd_cols']:5.2f}  "
              f"high-pass RMS {r['highpass_rms']:5.2f}  stripes {r['stripes']:7.1f}")
    if args.sheet:
        sheet = np.hstack([c.repeat(3, 0).repeat(3, 1) for c in crops])
        cv2.imwrite(args.sheet, sheet)


if __name__ == "__main__":
    main()

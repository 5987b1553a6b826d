"""Makes docs/contact_sheet.jpg: every zoo style on the four test photos.

    python docs/make_contact_sheet.py [--photos ../shared/data/content/test] [--styles ../shared/data/styles]

Rows are styles (the painting first, then its model on each photo); the top row holds
the photos themselves. Photos are stylized at --max-size px, as `stylestream image` would.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from stylenets.metadata import read_metadata
from stylestream.backends import open_engine
from stylestream.imagefile import read_image
from stylestream.stylizer import Stylizer
from stylestream.zoo import zoo_models

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CELL = 256


def cell(rgb: np.ndarray, label: str | None = None) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = CELL / max(h, w)
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    out = np.full((CELL, CELL, 3), 255, np.uint8)
    y, x = (CELL - small.shape[0]) // 2, (CELL - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    if label:
        cv2.putText(out, label, (6, CELL - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, (6, CELL - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, default=SHARED / "content" / "test")
    p.add_argument("--styles", type=Path, default=SHARED / "styles", help="folder of the style paintings")
    p.add_argument("--max-size", type=int, default=512)
    p.add_argument("--out", type=Path, default=HERE / "contact_sheet.jpg")
    args = p.parse_args()

    photos = [read_image(f)[0] for f in sorted(args.photos.glob("*.jpg"))]
    rows = [np.hstack([np.full((CELL, CELL, 3), 255, np.uint8)] + [cell(ph) for ph in photos])]
    for name, sizes in zoo_models().items():
        for arch, model in sizes.items():  # one row per size
            meta = read_metadata(model)
            painting = args.styles / meta.get("style_image", "")
            label = name if arch == "johnson" else f"{name} ({arch})"
            first = cell(read_image(painting)[0], label) if painting.is_file() else cell(np.zeros((8, 8, 3), np.uint8), label)
            stylize = Stylizer(open_engine(model, "cpu"), max_size=args.max_size)
            rows.append(np.hstack([first] + [cell(stylize(ph)) for ph in photos]))
    sheet = cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out} ({len(rows) - 1} styles × {len(photos)} photos)")


if __name__ == "__main__":
    main()

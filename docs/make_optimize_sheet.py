"""Makes docs/optimize_sheet.jpg: photo | Gram MSE loss | the defaults, one row per photo and
painting, from pictures already made (docs/optimize.md has the commands). The paintings are
not shown: the corpus's artworks are not redistributed in the repository.

    python docs/make_optimize_sheet.py OUT.jpg PHOTO MSE NEW [PHOTO MSE NEW ...]

Every cell is scaled to the same height; the sheet is written as a JPEG at --quality.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

ROW_HEIGHT = 200
GAP = 4


def row(paths: list[str], height: int) -> np.ndarray:
    cells = []
    for p in paths:
        img = cv2.imread(p)
        if img is None:
            raise SystemExit(f"cannot read {p}")
        w = round(img.shape[1] * height / img.shape[0])
        cells += [cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA), np.full((height, GAP, 3), 255, np.uint8)]
    return np.hstack(cells[:-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("pictures", nargs="+", help="groups of three: photo, Gram MSE result, result with the defaults")
    ap.add_argument("--height", type=int, default=ROW_HEIGHT, help=f"row height in px (default {ROW_HEIGHT})")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    a = ap.parse_args()
    if len(a.pictures) % 3:
        raise SystemExit("pictures come in groups of three: photo, Gram MSE result, result with the defaults")
    rows = [row(a.pictures[i:i + 3], a.height) for i in range(0, len(a.pictures), 3)]
    width = max(r.shape[1] for r in rows)
    rows = [np.hstack([r, np.full((a.height, width - r.shape[1], 3), 255, np.uint8)]) for r in rows]
    sheet = np.vstack([x for r in rows for x in (r, np.full((GAP, width, 3), 255, np.uint8))][:-1])
    cv2.imwrite(a.out, sheet, [cv2.IMWRITE_JPEG_QUALITY, a.quality])


if __name__ == "__main__":
    main()

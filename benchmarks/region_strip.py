"""The frame strip in docs/regions.md: frames of person.mp4 as the source, the flow-stabilised
person mask, `--region background` and `--style STYLE --background-style OTHER`.

    python benchmarks/region_strip.py [--out docs/regions_strip.jpg] [--frames 30 90 150]

Each row is one frame; the stream runs through every frame before it, so the mask and the
blends carry their history as they would in `stylestream video`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from stylestream import api  # noqa: E402
from stylestream.evaluate import video_frames  # noqa: E402

CLIP = HERE.parent.parent / "shared" / "data" / "video" / "person.mp4"
TILE = 240          # px, each picture's longer side
LABEL_HEIGHT = 22


def label(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    bar = np.full((LABEL_HEIGHT, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, tile])


def main() -> None:
    import cv2

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(HERE.parent / "docs" / "regions_strip.jpg"))
    p.add_argument("--frames", type=int, nargs="+", default=[30, 90, 150])
    p.add_argument("--style", default="candy")
    p.add_argument("--background-style", default="mosaic")
    args = p.parse_args()
    wanted, last = set(args.frames), max(args.frames)
    region = api.open(args.style, region="background")
    two = api.open(args.style, background_style=args.background_style)
    rows = []
    with region, two:
        for i, frame in enumerate(video_frames(str(CLIP))):
            if i > last:
                break
            background_only, both = region(frame), two(frame)
            if i not in wanted:
                continue
            mask = (np.clip(region.regions.last_mask, 0, 1) * 255).astype(np.uint8)
            mask = cv2.cvtColor(cv2.resize(mask, (frame.shape[1], frame.shape[0])), cv2.COLOR_GRAY2RGB)
            h, w = frame.shape[:2]
            size = (round(w * TILE / max(h, w)), round(h * TILE / max(h, w)))
            tiles = [cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in (frame, mask, background_only, both)]
            names = [f"source, frame {i}", "person mask (stabilised)", f"--region background ({args.style})",
                     f"{args.style} / --background-style {args.background_style}"]
            rows.append(np.hstack([label(t, n) for t, n in zip(tiles, names)]))
    strip = np.vstack(rows)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    Path(args.out).write_bytes(data.tobytes())
    print(f"{args.out}: {strip.shape[1]}×{strip.shape[0]}, {len(data) // 1024} KB")


if __name__ == "__main__":
    main()

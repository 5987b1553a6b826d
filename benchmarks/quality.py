"""Style and content distances of our zoo models next to the published reference outputs.

    python benchmarks/quality.py [--style starry] [--json out.json]

For each reference in ../shared/data/reference whose style we ship, the test photo is
stylized at the reference's exact size by `stylestream image`, then both images are
scored by `stylestream eval style` (relative Gram distance over relu1_2…relu4_3, relative
relu3_3 content distance; lower is better on both).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
# reference file → (zoo style, painting, test photo)
REFERENCES = {
    "chicago_starry_night.johnson-eccv16.jpg": ("starry", "starry_night.jpg", "chicago.jpg"),
    "chicago_candy.johnson-instancenorm.jpg": ("candy", "candy.jpg", "chicago.jpg"),
    "amber_candy.pytorch-examples.jpg": ("candy", "candy.jpg", "amber.jpg"),
}


def stylestream(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "stylestream", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip())
    return proc.stdout


def main() -> None:
    from stylestream.zoo import zoo_models

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", action="append", help="only these zoo styles")
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    rows = []
    zoo = zoo_models()
    with tempfile.TemporaryDirectory() as tmp:
        for ref_name, (style, painting, photo) in REFERENCES.items():
            if style not in zoo or (args.style and style not in args.style):
                continue
            ref = SHARED / "reference" / ref_name
            h, w = cv2.imread(str(ref)).shape[:2]
            content = Path(tmp) / f"{Path(photo).stem}_{w}x{h}.png"
            cv2.imwrite(str(content), cv2.resize(cv2.imread(str(SHARED / "content" / "test" / photo)), (w, h),
                                                 interpolation=cv2.INTER_AREA))
            ours = Path(tmp) / f"ours_{style}_{w}x{h}.png"
            stylestream("image", str(content), "-o", str(ours), "--style", style, "--max-size", str(max(w, h)))
            scores = json.loads(stylestream("eval", "style", str(ours), str(ref), "--content", str(content),
                                            "--style-image", str(SHARED / "styles" / painting), "--json"))
            mine, theirs = scores["results"]
            rows.append({"reference": ref_name, "size": f"{w}x{h}", "style": style,
                         "ours": {"style": mine["style"], "content": mine["content"]},
                         "reference_scores": {"style": theirs["style"], "content": theirs["content"]},
                         "no_worse": mine["style"] <= theirs["style"] and mine["content"] <= theirs["content"]})
    print(f"{'reference':42s} {'size':>9s} {'ours style':>10s} {'ref style':>9s} {'ours content':>12s} "
          f"{'ref content':>11s}  no worse on both")
    for r in rows:
        print(f"{r['reference']:42s} {r['size']:>9s} {r['ours']['style']:10.4f} {r['reference_scores']['style']:9.4f} "
              f"{r['ours']['content']:12.4f} {r['reference_scores']['content']:11.4f}  {r['no_worse']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

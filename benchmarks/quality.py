"""Style and content distances of our zoo models next to the published reference outputs.

    python benchmarks/quality.py [--style starry] [--arch johnson] [--json out.json]
    python benchmarks/quality.py --compare-sizes [--max-size 640]

For each reference in ../shared/data/reference whose style we ship, the test photo is
stylized at the reference's exact size by `stylestream image`, then both images are
scored by `stylestream eval style` (relative Gram distance over relu1_2…relu4_3, relative
relu3_3 content distance; lower is better on both).

--compare-sizes instead scores each style's compact net against its full net on the four
test photos (mean distances over the photos, and compact / full).
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
    p.add_argument("--arch", default="johnson", choices=["johnson", "compact"])
    p.add_argument("--compare-sizes", action="store_true")
    p.add_argument("--max-size", type=int, default=640, help="--compare-sizes: longer side of the photos")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.compare_sizes:
        return compare_sizes(args)

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
            stylestream("image", str(content), "-o", str(ours), "--style", style, "--arch", args.arch,
                        "--max-size", str(max(w, h)))
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


def compare_sizes(args) -> None:
    from stylestream.zoo import zoo_models

    paintings = {"starry": "starry_night.jpg"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = []
        for photo in sorted((SHARED / "content" / "test").glob("*.jpg")):
            img = cv2.imread(str(photo))
            scale = args.max_size / max(img.shape[:2])
            photos.append(Path(tmp) / f"{photo.stem}.png")
            cv2.imwrite(str(photos[-1]), cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                                                    interpolation=cv2.INTER_AREA))
        for style, sizes in zoo_models().items():
            if {"johnson", "compact"} - set(sizes) or (args.style and style not in args.style):
                continue
            painting = SHARED / "styles" / paintings.get(style, f"{style}.jpg")
            means = {}
            for arch in ("johnson", "compact"):
                outs = []
                for photo in photos:
                    out = Path(tmp) / f"{style}_{arch}_{photo.stem}.png"
                    stylestream("image", str(photo), "-o", str(out), "--style", style, "--arch", arch,
                                "--max-size", str(args.max_size))
                    outs.append(out)
                scores = [json.loads(stylestream("eval", "style", str(o), "--content", str(ph), "--style-image",
                                                 str(painting), "--json"))["results"][0]
                          for o, ph in zip(outs, photos)]
                means[arch] = {k: sum(r[k] for r in scores) / len(scores) for k in ("style", "content")}
            rows.append({"style": style, **means,
                         "ratio": {k: means["compact"][k] / means["johnson"][k] for k in ("style", "content")}})
    print(f"{'style':8s} {'full style':>10s} {'compact':>8s} {'ratio':>6s} {'full content':>12s} {'compact':>8s} "
          f"{'ratio':>6s}   (means over {len(photos)} test photos at {args.max_size} px)")
    for r in rows:
        print(f"{r['style']:8s} {r['johnson']['style']:10.4f} {r['compact']['style']:8.4f} {r['ratio']['style']:6.3f} "
              f"{r['johnson']['content']:12.4f} {r['compact']['content']:8.4f} {r['ratio']['content']:6.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

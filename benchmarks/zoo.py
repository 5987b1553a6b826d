"""Every zoo net against the zoo's acceptance lines: style, content and stripes, one row per net.

    python benchmarks/zoo.py                                    # every installed net, both sizes
    python benchmarks/zoo.py --style starry --model s384=runs/x/starry.onnx   # a candidate beside it
    python benchmarks/zoo.py --json zoo.json

Per net, on the four test photos at 512 px (`stylestream image`, scored by `stylestream eval
style` against the painting named in the net's metadata):
- style: mean relative Gram distance to the painting; `of photo` divides it by the unstylized
  photos' mean distance to the same painting (the line: at most 0.5);
- content: mean relu3_3 content distance (the line: at most 2.5);
- stripes: `benchmarks/stripes.py`'s score on chicago at 510×338, the size of the published
  Johnson starry, whose own score is printed first (the line: no higher than it). The
  published net is a JPEG, scored without the frequencies of JPEG's 8 px block grid, which
  include the period-2 px ones where an even/odd pixel grain lies; `masked` scores our output
  without them too, and the published net's score with them is printed beside its own.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
from stripes import PHOTOS, REFERENCE, resized_photo, score_file, stylize

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
PHOTO_SIDE = 512
MAX_STYLE_OF_PHOTO = 0.5
MAX_CONTENT = 2.5


def painting_of(model: Path) -> Path:
    from stylenets.metadata import read_metadata

    return SHARED / "styles" / read_metadata(model)["style_image"]


def eval_style(images: list[Path], photo: Path, painting: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "stylestream", "eval", "style", *map(str, images), "--content",
                           str(photo), "--style-image", str(painting), "--json"], check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip())
    return json.loads(proc.stdout)["results"]


def main() -> None:
    from stylestream.zoo import zoo_models

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", action="append", help="only these zoo styles")
    p.add_argument("--model", action="append", default=[], metavar="LABEL=NET.onnx",
                   help="also score this net (its painting from its metadata)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    nets = {f"{style} {arch}": path for style, archs in zoo_models().items() for arch, path in sorted(archs.items())
            if not args.style or style in args.style}
    nets.update(dict(m.split("=", 1) for m in args.model))
    nets = {label: Path(path).resolve() for label, path in nets.items()}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = [resized_photo(ph, tmp / f"{ph.stem}.png", max_side=PHOTO_SIDE) for ph in sorted(PHOTOS.glob("*.jpg"))]
        w, h = cv2.imread(str(REFERENCE)).shape[1::-1]
        chicago = resized_photo(PHOTOS / "chicago.jpg", tmp / "chicago_ref.png", size=(w, h))
        published = score_file(REFERENCE).score
        published_unmasked = score_file(REFERENCE, skip_jpeg_grid=False).score
        print(f"published Johnson starry, stripes on chicago {w}x{h}: {published:.0f} "
              f"({published_unmasked:.0f} with the JPEG grid's frequencies)", flush=True)
        for label, net in nets.items():
            painting = painting_of(net)
            style, content, unstylized = [], [], []
            for photo in photos:
                out = stylize(photo, tmp / f"out_{photo.stem}.png", str(net), "johnson")
                photo_scores, out_scores = eval_style([photo, out], photo, painting)
                style.append(out_scores["style"])
                content.append(out_scores["content"])
                unstylized.append(photo_scores["style"])
            on_chicago = stylize(chicago, tmp / "out_chicago_ref.png", str(net), "johnson")
            stripes, masked = score_file(on_chicago).score, score_file(on_chicago, skip_jpeg_grid=True).score
            mean = lambda xs: sum(xs) / len(xs)
            r = {"net": label, "path": str(net), "painting": painting.name, "style": mean(style),
                 "unstylized_style": mean(unstylized), "style_of_photo": mean(style) / mean(unstylized),
                 "content": mean(content), "stripes": stripes, "stripes_masked": masked, "published_stripes": published,
                 "published_stripes_unmasked": published_unmasked}
            r["passes"] = {"style": r["style_of_photo"] <= MAX_STYLE_OF_PHOTO, "content": r["content"] <= MAX_CONTENT,
                           "stripes": stripes <= published}
            rows.append(r)
            print(json.dumps(r), flush=True)
    print(f"\n{'net':24s} {'style':>6s} {'of photo':>8s} {'content':>7s} {'stripes':>7s} {'masked':>6s}  passes "
          f"(means over {len(photos)} test photos at {PHOTO_SIDE} px; stripes on chicago {w}x{h}, published {published:.0f})")
    for r in rows:
        passed = " ".join(k for k, ok in r["passes"].items() if ok) or "-"
        print(f"{r['net']:24s} {r['style']:6.3f} {r['style_of_photo']:8.2f} {r['content']:7.3f} {r['stripes']:7.0f} "
              f"{r['stripes_masked']:6.0f}  {passed}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

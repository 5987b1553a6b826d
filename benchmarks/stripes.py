"""Stripe/grid score: how strongly an image repeats at a fixed period of 2–8 px, beyond the photo it came from.

    python benchmarks/stripes.py                         # every zoo net and the published starry, chicago 510×338
    python benchmarks/stripes.py --photos                # every zoo net on the four test photos at 512 px
    python benchmarks/stripes.py OUT.png... --content PHOTO

A regular hatch or checkerboard is a few sharp peaks in the 2-D power spectrum of the luma;
brush strokes and photo detail spread their power over many frequencies. The score is the
highest peak in the band of periods 2–8 px, as a multiple of the median power at the same
spatial frequency (all directions), after a 3×3 smoothing of the spectrum so that one noisy
bin is not a peak. A natural photo scores around 10–20 (the largest of some ten thousand
noisy ratios); a visible hatch scores in the hundreds. `ratio` divides an output's score
by its photo's at the same size: how much periodicity the net added. Deterministic.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
REFERENCE = SHARED / "reference" / "chicago_starry_night.johnson-eccv16.jpg"  # 510×338
PHOTOS = SHARED / "content" / "test"
SHORTEST_PERIOD, LONGEST_PERIOD = 2.0, 8.0   # px
JPEG_BLOCK = 8                               # px: a JPEG's block grid; its harmonics are not the net's


@dataclass
class StripeScore:
    score: float        # peak power over the median power at its spatial frequency
    period: float       # px, of that peak
    angle: float        # degrees of the peak's wave vector from the x axis, in [0, 180)


def luma(bgr: np.ndarray) -> np.ndarray:
    """BT.601 luma in [0, 1] from an 8-bit BGR image."""
    b, g, r = (bgr[..., i].astype(np.float64) / 255 for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b


def stripe_score(y: np.ndarray, skip_jpeg_grid: bool = False) -> StripeScore:
    """The strongest periodic component of luma `y` with a period of 2–8 px.

    `skip_jpeg_grid` leaves out the frequencies of an 8-px block grid (multiples of 1/8
    cycle per px on both axes), where a JPEG's blocking puts its own peaks."""
    h, w = y.shape
    window = np.outer(np.hanning(h), np.hanning(w))  # no edge discontinuity posing as a stripe
    power = np.abs(np.fft.fftshift(np.fft.fft2((y - y.mean()) * window))) ** 2
    power = cv2.blur(power, (3, 3), borderType=cv2.BORDER_REFLECT)
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    radius = np.hypot(fx, fy)
    band = (radius >= 1 / LONGEST_PERIOD) & (radius <= 1 / SHORTEST_PERIOD)
    if skip_jpeg_grid:
        on_grid = lambda f, n: np.abs(f * JPEG_BLOCK - np.round(f * JPEG_BLOCK)) * n < 1.5 * JPEG_BLOCK  # noqa: E731
        band &= ~(on_grid(fx, w) & on_grid(fy, h))
    # Median power per ring of equal spatial frequency, one FFT bin wide.
    ring = np.round(radius * max(h, w)).astype(int)
    ratio = np.zeros_like(power)
    for r in np.unique(ring[band]):
        members = band & (ring == r)
        ratio[members] = power[members] / max(np.median(power[members]), 1e-30)
    iy, ix = np.unravel_index(np.argmax(ratio), ratio.shape)
    angle = float(np.degrees(np.arctan2(fy[iy, 0], fx[0, ix])) % 180)
    return StripeScore(float(ratio[iy, ix]), float(1 / radius[iy, ix]), angle)


def score_file(path: Path, skip_jpeg_grid: bool | None = None) -> StripeScore:
    img = cv2.imread(str(path))
    if img is None:
        raise SystemExit(f"cannot read image {path}")
    if skip_jpeg_grid is None:
        skip_jpeg_grid = path.suffix.lower() in (".jpg", ".jpeg")
    return stripe_score(luma(img), skip_jpeg_grid)


def resized_photo(photo: Path, out: Path, size: tuple[int, int] | None = None, max_side: int | None = None) -> Path:
    img = cv2.imread(str(photo))
    if size is None:
        s = max_side / max(img.shape[:2])
        size = (round(img.shape[1] * s), round(img.shape[0] * s))
    cv2.imwrite(str(out), cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    return out


def stylize(photo: Path, out: Path, style: str, arch: str) -> Path:
    h, w = cv2.imread(str(photo)).shape[:2]
    proc = subprocess.run([sys.executable, "-m", "stylestream", "image", str(photo), "-o", str(out), "--style", style,
                           "--arch", arch, "--max-size", str(max(h, w))], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="*", type=Path, help="score these instead of the zoo")
    p.add_argument("--content", type=Path, help="the photo the images were made from (for the ratio)")
    p.add_argument("--photos", action="store_true", help="the zoo on the four test photos at 512 px")
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.images:
            base = score_file(args.content) if args.content else None
            for image in args.images:
                rows.append(row(str(image), "", score_file(image), base))
        else:
            from stylestream.zoo import zoo_models

            if args.photos:
                photos = [resized_photo(ph, tmp / f"{ph.stem}.png", max_side=512) for ph in sorted(PHOTOS.glob("*.jpg"))]
            else:
                w, h = cv2.imread(str(REFERENCE)).shape[1::-1]
                photos = [resized_photo(PHOTOS / "chicago.jpg", tmp / "chicago.png", size=(w, h))]
                base = score_file(photos[0])
                rows.append(row("published Johnson starry (JPEG grid skipped)", "chicago", score_file(REFERENCE), base))
            for photo in photos:
                base = score_file(photo)
                rows.append(row("photo", photo.stem, base, base))
                for style, archs in zoo_models().items():
                    for arch in sorted(archs):
                        out = stylize(photo, tmp / f"{style}_{arch}_{photo.stem}.png", style, arch)
                        rows.append(row(f"{style} {arch}", photo.stem, score_file(out), base))
    print(f"{'image':46s} {'photo':17s} {'score':>8s} {'ratio':>6s} {'period':>6s} {'angle':>5s}")
    for r in rows:
        ratio = f"{r['ratio']:6.2f}" if r["ratio"] is not None else f"{'':6s}"
        print(f"{r['image']:46s} {r['photo']:17s} {r['score']:8.1f} {ratio} {r['period']:6.2f} {r['angle']:5.0f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def row(image: str, photo: str, s: StripeScore, base: StripeScore | None) -> dict:
    return {"image": image, "photo": photo, **asdict(s), "ratio": s.score / base.score if base else None}


if __name__ == "__main__":
    main()

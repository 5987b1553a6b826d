"""Makes examples/sample.mp4, the clip the README's first command stylizes.

A slow zoom and pan over scikit-image's `astronaut` photo (NASA, public domain) with a
synthetic chord as its AAC audio track: real camera-like motion and real audio, small
enough to commit (< 2 MB).

    python examples/make_sample_clip.py [--photo ../shared/data/content/train/sk_astronaut.jpg]
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PHOTO = HERE.parent.parent / "shared" / "data" / "content" / "train" / "sk_astronaut.jpg"


def ease(t: float) -> float:
    return 0.5 - 0.5 * np.cos(np.pi * t)


def frames(photo: np.ndarray, width: int, height: int, count: int):
    ph, pw = photo.shape[:2]
    for i in range(count):
        t = ease(i / (count - 1))
        # Zoom from the whole photo to 60 % of it while drifting right and up.
        crop_w = pw * (1.0 - 0.4 * t)
        crop_h = crop_w * height / width
        crop_h = min(crop_h, ph)
        x0 = (pw - crop_w) * (0.2 + 0.6 * t)
        y0 = (ph - crop_h) * (0.5 - 0.45 * t)
        sx, sy = width / crop_w, height / crop_h
        m = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], np.float32)
        yield cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def chord(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    notes = [261.63, 329.63, 392.00]  # C major
    wave = sum(np.sin(2 * np.pi * f * t) for f in notes) / len(notes)
    envelope = np.minimum(1.0, t / 0.2) * np.minimum(1.0, (seconds - t) / 0.5)
    left = 0.3 * wave * envelope
    right = 0.3 * np.roll(wave, rate // 100) * envelope
    return np.stack([left, right]).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    p.add_argument("--out", type=Path, default=HERE / "sample.mp4")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--fps", type=int, default=25)
    args = p.parse_args()

    photo = cv2.cvtColor(cv2.imread(str(args.photo)), cv2.COLOR_BGR2RGB)
    count = int(args.seconds * args.fps)
    rate = 44100
    with av.open(str(args.out), "w", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=args.fps)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.options = {"crf": "24", "preset": "slow"}
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "stereo"
        for i, img in enumerate(frames(photo, 640, 360, count)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, args.fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = chord(args.seconds, rate)
        for start in range(0, samples.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]), format="fltp",
                                            layout="stereo")
            af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(af))
        out.mux(audio.encode(None))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {count} frames)")


if __name__ == "__main__":
    main()

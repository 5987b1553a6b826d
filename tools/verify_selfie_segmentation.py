"""Compare the bundled ONNX selfie segmentation nets with MediaPipe's own run of the original
.tflite files, on portraits from ../shared/data/content/train_extra and frames of person.mp4.

MediaPipe (protobuf 4) and tf2onnx (protobuf 3.20) do not share a virtualenv, so this runs in a
second throwaway one:

    python3 -m venv ../segref
    ../segref/bin/pip install --no-deps ../wheels/mediapipe-0.10.21-*.whl
    ../segref/bin/pip install "numpy<2" "protobuf>=4.25.3,<5" absl-py attrs flatbuffers \\
        opencv-contrib-python matplotlib sentencepiece onnxruntime onnx==1.16.2 av
    ../segref/bin/python tools/verify_selfie_segmentation.py

Two comparisons per picture, as max and mean absolute difference of the masks:
- net: the picture resized to the net's input size and given to both, so MediaPipe's resizes are
  identities; this is the conversion's error.
- pipeline: the picture at its own size, stylestream.segmentation.PersonSegmenter against
  MediaPipe's whole graph (its resize in, net, resize out); this adds the resampling differences.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stylestream.segmentation import PersonSegmenter  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
PORTRAITS = ["efdm_avril", "efdm_blonde_girl", "cnnmrf_potrait1", "nstf_face", "nstf_segmentation_00017",
             "nstf_segmentation_00110", "artflow_yann_lecun_photo", "magenta_doug_eck", "texref_freddie",
             "fnd_seth"]
MODEL_SELECTION = {"square": 0, "landscape": 1}    # MediaPipe's numbering


def portraits() -> list[tuple[str, np.ndarray]]:
    import cv2
    out = []
    for name in PORTRAITS:
        bgr = cv2.imread(str(SHARED / "content" / "train_extra" / f"{name}.jpg"))
        out.append((name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return out


def video_frames(count: int) -> list[tuple[str, np.ndarray]]:
    import av
    with av.open(str(SHARED / "video" / "person.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [(f"person.mp4#{i}", frames[i]) for i in picks]


def main() -> None:
    import cv2
    import mediapipe as mp

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=20, help="frames of person.mp4, spread over the clip")
    args = ap.parse_args()
    pictures = {"portraits": portraits(), "person.mp4": video_frames(args.frames)}
    for variant, selection in MODEL_SELECTION.items():
        segmenter = PersonSegmenter(variant, runtime="onnxruntime")
        h, w = segmenter.input_size
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection) as reference:
            for group, items in pictures.items():
                net_max = net_mean = pipe_max = pipe_mean = 0.0
                agree = []
                for _, rgb in items:
                    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
                    ours = segmenter.infer(small.transpose(2, 0, 1)[None].astype(np.float32) / 255)[0, 0]
                    theirs = reference.process(small).segmentation_mask
                    diff = np.abs(ours - theirs)
                    net_max, net_mean = max(net_max, diff.max()), net_mean + diff.mean() / len(items)
                    ours, theirs = segmenter(rgb), reference.process(rgb).segmentation_mask
                    diff = np.abs(ours - theirs)
                    pipe_max, pipe_mean = max(pipe_max, diff.max()), pipe_mean + diff.mean() / len(items)
                    agree.append(((ours > 0.5) == (theirs > 0.5)).mean())
                print(f"{variant:9s} {group:10s} n={len(items):2d}  net: max {net_max:.2e} mean {net_mean:.2e}  "
                      f"pipeline: max {pipe_max:.2e} mean {pipe_mean:.2e}, "
                      f"pixels on the same side of 0.5 {100 * np.mean(agree):.2f} %")


if __name__ == "__main__":
    main()

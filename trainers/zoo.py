"""Train the style zoo: many fast-NST jobs at once on one GPU.

    python -m trainers.zoo --data DIR --styles DIR --out DIR --max-minutes 8 \
        starry/johnson candy/johnson/style-weight=2e10 mosaic/compact ...

A job is NAME/ARCH[/option=value...]: a zoo style, `johnson` or `compact`, and any
`python -m trainers.fast_nst` options. One Johnson net at batch 4 leaves an H100 mostly
idle, so every job runs concurrently, each for the same wall-clock budget (--max-minutes),
writing its checkpoint, samples and log under OUT/JOB. `--resume` continues them all.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

# Zoo style → painting in ../shared/data/styles and its default options.
STYLES = {
    "starry": ("starry_night.jpg", {}),
    "candy": ("candy.jpg", {}),
    "mosaic": ("mosaic.jpg", {}),
    "udnie": ("udnie.jpg", {}),
    "the_scream": ("the_scream.jpg", {}),
}
# Full-quality recipe (Johnson et al.: 256 px crops, batch 4, Adam 1e-3).
COMMON = {"size": "256", "batch": "4", "steps": "200000", "checkpoint-every": "1000", "sample-every": "1000"}


def job_name(spec: str) -> str:
    return spec.replace("/", "_").replace("=", "")


def job_command(spec: str, args: argparse.Namespace) -> list[str]:
    name, arch, *extra = spec.split("/")
    if name not in STYLES or arch not in ("johnson", "compact"):
        raise SystemExit(f"bad job {spec!r}: want NAME/ARCH[/option=value...] with NAME in {sorted(STYLES)}")
    painting, defaults = STYLES[name]
    opts = {**COMMON, **defaults, **dict(e.split("=", 1) for e in extra)}
    work = Path(args.out) / job_name(spec)
    suffix = ".compact.onnx" if arch == "compact" else ".onnx"
    cmd = [sys.executable, "-m", "trainers.fast_nst", "--style-image", str(Path(args.styles) / painting),
           "--name", name, "--arch", arch, "--data", args.data, "--out", str(work / f"{name}{suffix}"),
           "--workdir", str(work), "--max-minutes", str(args.max_minutes), "--no-export"]
    cmd += [x for k, v in opts.items() for x in (f"--{k}", v)]
    if args.vgg_weights:
        cmd += ["--vgg-weights", args.vgg_weights]
    if args.resume and (work / "checkpoint.pt").exists():
        cmd.append("--resume")
    return cmd


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("jobs", nargs="+", help="NAME/ARCH[/option=value...]")
    p.add_argument("--data", required=True)
    p.add_argument("--styles", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-minutes", type=float, required=True)
    p.add_argument("--vgg-weights")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    procs = {}
    for spec in args.jobs:
        work = Path(args.out) / job_name(spec)
        work.mkdir(parents=True, exist_ok=True)
        log = open(work / "train.log", "a")
        procs[spec] = (subprocess.Popen(job_command(spec, args), stdout=log, stderr=subprocess.STDOUT, env=env), log)
    start = time.perf_counter()
    failed = []
    for spec, (proc, log) in procs.items():
        if proc.wait() != 0:
            failed.append(spec)
        log.close()
    print(f"{len(procs)} jobs in {time.perf_counter() - start:.0f} s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

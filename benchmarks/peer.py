"""Run ``styletransfer-lite`` (PyPI, 0.1.0), the closest product, for side-by-side benchmarks.

It lives in its own virtual environment (default ``.peer-venv`` in the checkout)::

    python3 -m venv .peer-venv
    .peer-venv/bin/pip install "styletransfer-lite[video]"

Why a separate venv: styletransfer-lite depends on the CPU-only ``onnxruntime``
distribution. stylestream depends on ``onnxruntime-gpu`` on Linux x86_64, and
the two distributions install the same ``onnxruntime`` import package, so
putting it into stylestream's environment can overwrite the GPU build. Keeping
it apart also makes sure stylestream cannot import it by accident.
The ``[video]`` extra is required: it adds OpenCV, and without it the
``video`` subcommand fails.

What its ``video`` subcommand does (read from its 0.1.0 source):
it reads frames with OpenCV, downscales so that the longer side is at most
640 px (``--max-size``), runs its 26-style ONNX network once per frame with
onnxruntime (CPU unless a GPU build is installed; the default thread pool,
which has no thread option), and writes MPEG-4 Part 2 (``mp4v``) with OpenCV.
It writes no audio. ``--smooth a`` mixes in the previous output frame:
``out = a * prev_out + (1 - a) * new``.

The timings below are for the whole process: interpreter start, model load,
decoding, inference and encoding.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "styletransfer-lite"
ENV_VAR = "STYLETRANSFER_LITE"
# A git-ignored venv beside the checkout (see the module docstring).
DEFAULT_PEER_VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".peer-venv")


def _install_hint(peer_venv: str) -> str:
    return (f"python3 -m venv {peer_venv} && {peer_venv}/bin/pip install "
            f"'styletransfer-lite[video]' (or set {ENV_VAR} to the executable)")


def find_peer(peer_venv: str = DEFAULT_PEER_VENV) -> str:
    """Return the path of the ``styletransfer-lite`` executable, or raise RuntimeError.

    Lookup order: $STYLETRANSFER_LITE, then ``<peer_venv>/bin/styletransfer-lite``,
    then ``styletransfer-lite`` on PATH.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        exe = shutil.which(override)
        if exe is None:
            raise RuntimeError(f"{ENV_VAR}={override!r} is not an executable file")
        return exe
    for candidate in (os.path.join(peer_venv, "bin", SCRIPT), SCRIPT):
        exe = shutil.which(candidate)
        if exe is not None:
            return exe
    raise RuntimeError(f"{SCRIPT} is not installed; install it with: {_install_hint(peer_venv)}")


def probe_video(path: str) -> dict:
    """Count decoded video frames and read the size and audio presence with PyAV."""
    try:
        import av  # imported here so that importing this module needs only the stdlib
    except ImportError:
        raise RuntimeError("counting output frames needs PyAV: pip install av") from None
    with av.open(path) as container:
        if not container.streams.video:
            raise RuntimeError(f"{path} has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        audio = bool(container.streams.audio)
        frames = sum(1 for _ in container.decode(stream))
    return {"frames": frames, "width": width, "height": height, "audio": audio}


def machine_name() -> str:
    """CPU model, architecture, cores and the vector extensions that move our figures: the
    ratio to styletransfer-lite differs from one 2-core host to another, so tables name the host."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    extensions = [name for name, flag in (("AVX-512", "avx512f"), ("AMX", "amx_tile")) if flag in flags]
    return ", ".join([model, platform.machine(), f"{os.cpu_count()} cores", *extensions])


def run_measured(cmd: list[str]) -> dict:
    """Runs `cmd`; returns its output, exit code, wall seconds and peak RSS (MB).

    os.wait4 returns the rusage of this one child (and the processes it waited for), so
    earlier children do not affect the peak. Output goes to files rather than pipes
    because the child must not be reaped before its output is read.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as exc:
            raise RuntimeError(f"cannot start {cmd[0]}: {exc}") from None
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    rss_bytes = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return {"returncode": os.waitstatus_to_exitcode(status), "stdout": stdout, "stderr": stderr,
            "seconds": seconds, "peak_rss_mb": round(rss_bytes / 2**20, 1)}


def run_peer(src: str, dst: str, style: int = 19, smooth: float | None = None,
             extra_args=(), peer_venv: str = DEFAULT_PEER_VENV) -> dict:
    """Stylize ``src`` into ``dst`` with ``styletransfer-lite video`` and measure it.

    Returns ``seconds`` (wall time of the child process), ``frames`` (decoded
    from ``dst``), ``fps`` (frames / seconds), ``peak_rss_mb`` (the child's
    peak resident set), ``width``/``height`` (of ``dst``), ``audio`` (whether
    ``dst`` has an audio stream) and ``cmd`` (the argument list that was run).
    """
    exe = find_peer(peer_venv)
    if not os.path.isfile(src):
        raise RuntimeError(f"input video not found: {src}")
    cmd = [exe, "video", src, "-o", dst, "-s", str(style)]
    if smooth is not None:
        cmd += ["--smooth", str(smooth)]
    cmd += [str(a) for a in extra_args]

    run = run_measured(cmd)
    if run["returncode"] != 0:
        lines = [ln.strip() for ln in run["stderr"].splitlines() if ln.strip()]
        detail = lines[-1] if lines else "no output on stderr"
        raise RuntimeError(f"{SCRIPT} exited with code {run['returncode']}: {detail}")
    seconds = run["seconds"]
    info = probe_video(dst)
    return {
        "seconds": round(seconds, 3),
        "frames": info["frames"],
        "fps": round(info["frames"] / seconds, 3) if seconds > 0 else 0.0,
        "peak_rss_mb": run["peak_rss_mb"],
        "width": info["width"],
        "height": info["height"],
        "audio": info["audio"],
        "cmd": cmd,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        usage="%(prog)s [options] src dst [-- PEER_ARGS...]",
        description="Run styletransfer-lite's video command and print its timing as JSON. "
                    "Arguments after '--' go to styletransfer-lite unchanged.")
    parser.add_argument("src", help="input video")
    parser.add_argument("dst", help="output .mp4 path")
    parser.add_argument("-s", "--style", type=int, default=19, help="styletransfer-lite style index 0-25 (default 19)")
    parser.add_argument("--smooth", type=float, default=None, help="styletransfer-lite --smooth value (default: not passed)")
    parser.add_argument("--peer-venv", default=DEFAULT_PEER_VENV,
                        help=f"venv that holds styletransfer-lite (default {DEFAULT_PEER_VENV}; ${ENV_VAR} overrides)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    try:
        result = run_peer(args.src, args.dst, style=args.style, smooth=args.smooth,
                          extra_args=extra, peer_venv=args.peer_venv)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

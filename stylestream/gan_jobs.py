"""What `generate` and `dream` do: the generator counterparts of `jobs.py`, with the same
sinks (atomic image writer, H.264 file, window) and the same clean stop on Ctrl-C."""
from __future__ import annotations

import math
import signal
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylestream.errors import UserError
from stylestream.generator import GeneratorEngine, LatentWalk, seed_latents
from stylestream.jobs import stop_on_signals, write_image, write_snapshot
from stylestream.sinks import DEFAULT_PRESET, VideoFileSink, WindowSink, check_writable

BATCH = 16      # images per generator call
WINDOW_MIN = 512  # a 64 px model is shown scaled up to at least this


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """N × h × w × 3 → one grid image, row by row; missing cells are white."""
    n, h, w, _ = images.shape
    rows = math.ceil(n / cols)
    grid = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return grid


def _run(gen: GeneratorEngine, z: np.ndarray, **kw) -> np.ndarray:
    return np.concatenate([gen(z[i:i + BATCH], **{k: (v[i:i + BATCH] if isinstance(v, np.ndarray) else v)
                                                  for k, v in kw.items()}) for i in range(0, len(z), BATCH)])


def generate_grid(gen: GeneratorEngine, seeds: list[int], out: str, psi: float = 1.0, noise: str = "const",
                  cols: int | None = None) -> dict:
    path = Path(out)
    check_writable(path)
    start = time.perf_counter()
    images = _run(gen, seed_latents(seeds, gen.z_dim), psi=psi, noise=noise)
    cols = cols or math.ceil(math.sqrt(len(seeds)))
    write_image(path, tile(images, cols))
    return {"output": str(path), "generator": gen.name, "seeds": seeds, "psi": psi, "noise": noise,
            "resolution": gen.resolution, "grid": [math.ceil(len(seeds) / cols), cols],
            "device": gen.device, "seconds": round(time.perf_counter() - start, 3)}


def mixing_grid(gen: GeneratorEngine, row_seeds: list[int], col_seeds: list[int], out: str, crossover: int,
                psi: float = 1.0, noise: str = "const") -> dict:
    """Top row: the column seeds; left column: the row seeds; cell (i, j): row seed i's styles
    before layer `crossover`, column seed j's from it on."""
    if not 0 <= crossover <= gen.num_ws:
        raise UserError(f"--crossover must be between 0 and {gen.num_ws} (this generator's style layers)")
    path = Path(out)
    check_writable(path)
    start = time.perf_counter()
    zr, zc = seed_latents(row_seeds, gen.z_dim), seed_latents(col_seeds, gen.z_dim)
    blank = np.full((1, gen.resolution, gen.resolution, 3), 255, np.uint8)
    rows = [np.concatenate([blank, _run(gen, zc, psi=psi, noise=noise)])]
    for i, z in enumerate(zr):
        row_z = np.repeat(z[None], len(zc), 0)
        rows.append(np.concatenate([_run(gen, z[None], psi=psi, noise=noise),
                                    _run(gen, row_z, z_mix=zc, mix_layer=crossover, psi=psi, noise=noise)]))
    write_image(path, tile(np.concatenate(rows), len(col_seeds) + 1))
    return {"output": str(path), "generator": gen.name, "rows": row_seeds, "cols": col_seeds, "crossover": crossover,
            "num_ws": gen.num_ws, "psi": psi, "noise": noise, "resolution": gen.resolution, "device": gen.device,
            "seconds": round(time.perf_counter() - start, 3)}


def dream(gen: GeneratorEngine, record: str | None = None, window: bool = True, frames: int | None = None,
          seconds: float | None = None, fps: float = 30.0, key_seconds: float = 2.0, seed: int = 0,
          psi: float = 1.0, noise: str = "const", size: int | None = None, crf: int = 18,
          preset: str = DEFAULT_PRESET) -> dict:
    """A slerp walk through z, one frame per step, to a window and/or a video file.

    The file's timestamps count frames at `fps`, so it plays smoothly however fast the frames
    were made; the window is paced to `fps` so the walk's speed does not depend on the machine.
    """
    import cv2

    if not window and not record:
        raise UserError("--no-window needs --record: nothing would be shown or saved")
    if record:
        check_writable(Path(record))
    size = size or gen.resolution
    walk = LatentWalk(gen.z_dim, seed, round(key_seconds * fps))
    view = WindowSink("stylestream dream") if window else None
    sink = None
    rate = Fraction(fps).limit_denominator(1001)
    made, step, paused, snapshots = 0, 0, False, 0
    gen_seconds, frame = 0.0, None
    stop = threading.Event()
    start = next_show = time.perf_counter()
    try:
        with stop_on_signals(stop) as caught:
            if record:
                sink = VideoFileSink(record, size, size, rate, 1 / rate, crf=crf, preset=preset)
            while not stop.is_set():
                if (frames is not None and made >= frames) or (seconds and time.perf_counter() - start >= seconds):
                    break
                if not paused or frame is None:
                    t0 = time.perf_counter()
                    frame = gen(walk(step)[None], psi=psi, noise=noise)[0]
                    gen_seconds += time.perf_counter() - t0
                    if size != gen.resolution:
                        frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_CUBIC)
                    if sink is not None:
                        sink.write(frame)
                    made, step = made + 1, step + 1
                if view is not None:
                    shown = frame if size >= WINDOW_MIN else cv2.resize(frame, (WINDOW_MIN, WINDOW_MIN),
                                                                        interpolation=cv2.INTER_CUBIC)
                    fps_now = made / max(time.perf_counter() - start, 1e-9)
                    view.show(shown, [f"{fps_now:5.1f} FPS  {gen.name}  psi {psi:g}" + ("  [paused]" if paused else "")])
                    next_show += 1 / fps
                    key = view.key(max(1, int((next_show - time.perf_counter()) * 1000)))
                    next_show = max(next_show, time.perf_counter())  # behind: do not rush to catch up
                    if key in (ord("q"), 27):
                        break
                    if key == ord(" "):
                        paused = not paused
                    elif key == ord("s"):
                        snapshots += 1
                        write_snapshot(frame, snapshots, "stylestream-dream")
            if sink is not None:    # inside: a second Ctrl-C here is absorbed, not lost
                sink.close()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        if view is not None:
            view.close()
    elapsed = time.perf_counter() - start
    return {"generator": gen.name, "frames": made, "seconds": round(elapsed, 3),
            "fps": round(made / elapsed, 2) if elapsed else 0.0,
            "generator_fps": round(made / gen_seconds, 2) if gen_seconds else 0.0,
            "resolution": gen.resolution, "size": size, "device": gen.device, "backend": gen.backend,
            "record": str(sink.path) if sink else None, "recorded_frames": sink.frames if sink else 0,
            "interrupted": bool(caught), "signal": signal.Signals(caught[0]).name if caught else None,
            "snapshots": snapshots}

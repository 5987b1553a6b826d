"""`generate` and `dream`: images from a StyleGAN generator, as grids of seeds or style
mixing, and as an endless walk through its latent space in the live loop."""
from __future__ import annotations

import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylestream.errors import UserError
from stylestream.generator import GeneratorEngine, LatentWalk, seed_latents
from stylestream.imagefile import write_image
from stylestream.jobs.live import LiveFrame, Recording, Window, run_live
from stylestream.sinks import DEFAULT_PRESET, check_writable


BATCH = 16      # images per generator call
WINDOW_MIN = 512  # a 64 px model is shown scaled up to at least this
SNAPSHOT_PREFIX = "stylestream-dream"


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


class WalkFrames:
    """The live loop's producer: one frame per step of a slerp walk through z. While paused
    the last frame stays on show and nothing new is made or recorded."""

    def __init__(self, gen: GeneratorEngine, walk: LatentWalk, psi: float, noise: str, size: int):
        self.gen, self.walk, self.psi, self.noise, self.size = gen, walk, psi, noise, size
        self.frame: np.ndarray | None = None
        self.made, self.gen_seconds = 0, 0.0
        self.start = time.perf_counter()

    def next(self, paused: bool) -> LiveFrame | None:
        import cv2

        if paused and self.frame is not None:
            return LiveFrame(self.frame, fresh=False, record=False)
        t0 = time.perf_counter()
        frame = self.gen(self.walk(self.made)[None], psi=self.psi, noise=self.noise)[0]
        self.gen_seconds += time.perf_counter() - t0
        if self.size != self.gen.resolution:
            frame = cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_CUBIC)
        self.frame, self.made = frame, self.made + 1
        return LiveFrame(frame)

    def overlay(self, paused: bool) -> list[str]:
        fps = self.made / max(time.perf_counter() - self.start, 1e-9)
        return [f"{fps:5.1f} FPS  {self.gen.name}  psi {self.psi:g}" + ("  [paused]" if paused else "")]

    def key(self, key: int) -> None:
        pass

    def close(self) -> None:
        pass


def dream(gen: GeneratorEngine, record: str | None = None, window: bool = True, frames: int | None = None,
          seconds: float | None = None, fps: float = 30.0, key_seconds: float = 2.0, seed: int = 0,
          psi: float = 1.0, noise: str = "const", size: int | None = None, crf: int = 18,
          preset: str = DEFAULT_PRESET) -> dict:
    """The walk to a window and/or a video file. The file's timestamps count frames at `fps`,
    so it plays smoothly however fast the frames were made; the window is paced to `fps` so
    the walk's speed does not depend on the machine."""
    if record:
        check_writable(Path(record))
    size = size or gen.resolution
    walk = LatentWalk(gen.z_dim, seed, round(key_seconds * fps))
    view = Window("stylestream dream", min_side=WINDOW_MIN) if window else None
    recording = Recording(record, Fraction(fps).limit_denominator(1001), crf, preset) if record else None
    producer = WalkFrames(gen, walk, psi, noise, size)
    run = run_live(producer, [o for o in (recording, view) if o is not None], max_frames=frames,
                   max_seconds=seconds, pace_fps=fps, snapshot_prefix=SNAPSHOT_PREFIX)
    return {"generator": gen.name, "frames": run.frames, "seconds": round(run.seconds, 3),
            "fps": round(run.frames / run.seconds, 2) if run.seconds else 0.0,
            "generator_fps": round(producer.made / producer.gen_seconds, 2) if producer.gen_seconds else 0.0,
            "resolution": gen.resolution, "size": size, "device": gen.device, "backend": gen.backend,
            "record": str(recording.written) if recording and recording.written else None,
            "recorded_frames": recording.frames if recording else 0,
            "interrupted": run.interrupted, "signal": run.signal, "snapshots": run.snapshots}

"""What each command does, given parsed options: video files, cameras, images.

Each job returns a summary dict; the CLI prints it (or its JSON) and picks the exit code.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from stylestream.errors import UserError
from stylestream.imagefile import (apply_orientation, decode_quietly, exif_orientation, header_size,
                                   max_image_pixels)
from stylestream.pipeline import VideoJob
from stylestream.sinks import (DEFAULT_PRESET, VideoFileSink, WindowSink, check_writable, pick_encoder,
                               refuse_overwriting_inputs, write_error, write_file_atomically)
from stylestream.sources import CameraSource, VideoFileSource
from stylestream.stylizer import Stylizer, finish
from stylestream.temporal import DEFAULT_STRENGTH, Temporal


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT/SIGTERM ask the job to finish cleanly instead of killing it mid-write.

    Wrap everything from opening the output to closing it. Once a signal has come the
    process is finishing, so the handler stays after the block and absorbs later ones until
    it exits: restored, Python's default would turn a second Ctrl-C during the final flush,
    or the summary printed after it, into a KeyboardInterrupt that deletes or abandons the
    file (SIGTERM's default would kill the process outright)."""
    caught: list[int] = []

    def handler(signum, _frame):
        caught.append(signum)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        if not caught:
            for s, h in previous.items():
                signal.signal(s, h)


# Multiply-adds per pixel under which a net gets one more frame in flight beside temporal
# consistency (stylize_video): the zoo's compact nets cost 10 k, the full nets 154 k.
LIGHT_NET_MACS = 40_000


def _progress(total: int | None, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total or None, unit="frame", dynamic_ncols=True, mininterval=0.5,
                disable=not enabled or os.environ.get("STYLESTREAM_NO_PROGRESS") == "1", leave=False)


def stylize_video(src: str, dst: str, stylizer: Stylizer, crf: int = 18, preset: str = DEFAULT_PRESET,
                  progress: bool = True, temporal_strength: float | None = DEFAULT_STRENGTH) -> dict:
    """`temporal_strength` None turns optical-flow temporal consistency off."""
    dst_path = Path(dst)
    refuse_overwriting_inputs(dst_path, [src, stylizer.engine.path])
    source = VideoFileSource(src)
    width, height = source.size
    stop = threading.Event()
    with stop_on_signals(stop) as caught:
        try:
            sink = VideoFileSink(dst_path, width, height, source.rate, source.time_base, source.audio, crf=crf,
                                 preset=preset, encoder=pick_encoder(stylizer.engine.device))
        except BaseException:
            source.close()
            raise
        temporal = stylizer.temporal(temporal_strength) if temporal_strength is not None else None
        ahead = stylizer.frames_at_once
        cost = stylizer.engine.macs_per_pixel
        if ahead > 1 and temporal is not None and temporal.concurrent and cost is not None \
                and cost < LIGHT_NET_MACS:
            # Beside a net this cheap, the flow stage (decode thread) and the blend stage (in
            # frame order) leave the cores idle now and then; one more frame queued for the engine
            # fills those gaps. Without consistency the extra frame only contends, and a full
            # net gains nothing from it and would hold 25 % more memory. bikes.mp4, compact
            # starry, OpenVINO bf16 on 2 cores, `stylestream video --json` 3 times each,
            # interleaved: 43.7 44.3 45.7 FPS with 2 frames in flight, 45.1 47.1 48.1 with 3.
            ahead += 1
        job = VideoJob(source, sink, stylizer, temporal, frames_at_once=ahead, stop=stop)
        bar = _progress(source.declared_frames, progress)
        job.on_frame = lambda n: bar.update(1)
        # The job's stages already keep the cores busy; OpenCV's own worker threads would only
        # contend with them, and they make DIS flow (so the blended video) differ run to run.
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(0)
        start = time.perf_counter()
        try:
            interrupted = job.run()
            if job.frames == 0 and not interrupted:
                raise UserError(f"{src}: no decodable video frames")
            out = sink.close()
        except BaseException:
            sink.abort()
            raise
        finally:
            cv2.setNumThreads(cv_threads)
            bar.close()
            source.close()
    seconds = time.perf_counter() - start
    summary = {
        "input": src, "output": str(out), "style": stylizer.engine.name,
        "arch": stylizer.engine.metadata.get("arch"), "device": stylizer.engine.device, "backend": stylizer.engine.backend,
        "precision": stylizer.engine.precision, "encoder": sink.stream.codec_context.name,
        "frames": job.frames, "seconds": round(seconds, 3), "fps": round(job.frames / seconds, 2) if seconds else 0.0,
        "stage_fps": job.stage_fps(), "frames_in_flight": ahead, "width": sink.width, "height": sink.height,
        "audio_streams": len(sink.audio_map), "interrupted": interrupted,
        "temporal": temporal_strength,
        "signal": signal.Signals(caught[0]).name if caught else None,
        # Damage is handled as ffmpeg does: corrupt packets are skipped and counted, and the
        # frames that decode are written. A container that promised more frames than it gave
        # was truncated (or lost packets the decoder never saw).
        "skipped_packets": source.decode_errors,
        "declared_frames": source.video.frames or None,
    }
    missing = source.video.frames - source.frames_decoded if source.video.frames else 0
    if source.decode_errors or (missing > 0 and not interrupted):
        skipped = source.decode_errors
        summary["damaged"] = ("input is damaged or truncated: "
                              + (f"skipped {skipped} corrupt packet{'s' if skipped != 1 else ''}, " if skipped else "")
                              + f"wrote the {job.frames} decodable frames"
                              + (f" of {source.video.frames}" if missing > 0 else ""))
    return summary


def run_camera(camera: str, stylizers: list[Stylizer], record: str | None = None, window: bool = True,
               capture_width: int | None = None, crf: int = 18, preset: str = DEFAULT_PRESET,
               max_seconds: float | None = None,
               temporal_strength: float | None = DEFAULT_STRENGTH) -> dict:
    """A camera (or a file played as one) through the stylizers, to a window and/or a file.
    A source that fails mid-stream ends the run with a UserError once the recording is
    closed, playable, with what it had."""
    from concurrent.futures import ThreadPoolExecutor

    if record:
        refuse_overwriting_inputs(record, [camera, *(s.engine.path for s in stylizers)])
        check_writable(Path(record))
    view = WindowSink() if window else None
    source = CameraSource(camera, width=capture_width)
    # `t` can turn consistency on even when it started off, so the temporal method always exists.
    temporal = stylizers[0].temporal(DEFAULT_STRENGTH if temporal_strength is None else temporal_strength)
    temporal_on = temporal_strength is not None
    flow_pool = ThreadPoolExecutor(1, thread_name_prefix="flow")
    sink: VideoFileSink | None = None
    current, paused, snapshots = 0, False, 0
    processed, last_out = 0, None
    stop = threading.Event()
    start = time.perf_counter()
    fps_window: list[float] = []
    latencies: list[float] = []
    try:
        with stop_on_signals(stop) as caught:
            try:
                while not stop.is_set():
                    got = source.read()
                    if got is None:
                        break
                    _, captured_at, frame = got
                    if not paused or last_out is None:
                        last_out = _stylize_live(stylizers[current], frame, temporal if temporal_on else None,
                                                 flow_pool)
                        processed += 1
                        latencies.append(time.perf_counter() - captured_at)  # capture → stylized frame
                    now = time.perf_counter()
                    fps_window = [t for t in fps_window if now - t < 2.0] + [now]
                    fps = (len(fps_window) - 1) / (fps_window[-1] - fps_window[0]) if len(fps_window) > 1 else 0.0
                    if record:
                        if sink is None:
                            h, w = last_out.shape[:2]
                            sink = VideoFileSink(record, w, h, Fraction(round(source.fps * 1000), 1000),
                                                 Fraction(1, 1000), crf=crf, preset=preset)
                        # Wall-clock timestamps: the recording plays back at the pace it was seen.
                        sink.write(last_out, int((captured_at - start) * 1000), Fraction(1, 1000))
                    if view is not None:
                        view.show(last_out, [f"{fps:5.1f} FPS  {stylizers[current].engine.name}"
                                             + ("  [paused]" if paused else "") + ("  [temporal]" if temporal_on else ""),
                                             f"dropped {source.dropped}"])
                        key = view.key()
                        if key in (ord("q"), 27):
                            break
                        if key in (ord("n"), ord("p")):
                            current = (current + (1 if key == ord("n") else -1)) % len(stylizers)
                        elif key == ord(" "):
                            paused = not paused
                        elif key == ord("t"):
                            temporal_on = not temporal_on
                        if key in (ord("n"), ord("p"), ord(" "), ord("t")):
                            # A new style, a resumed camera or a toggle: the history no longer applies.
                            temporal.reset()
                        elif key == ord("s"):
                            snapshots += 1
                            write_snapshot(last_out, snapshots)
                    if max_seconds and now - start >= max_seconds:
                        break
            finally:
                # The camera thread and a flow still running end before anything they use is
                # freed (a capture released under a reading thread crashes the process).
                source.close()
                flow_pool.shutdown(wait=True, cancel_futures=True)
            if sink is not None:
                sink.close()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        if view is not None:
            view.close()
    if source.lost:
        kept = f"; the recording keeps its {sink.frames} frames: {sink.path}" if sink is not None else ""
        raise UserError(f"{source.lost}{kept}")
    seconds = time.perf_counter() - start
    return {"camera": str(camera), "frames": processed, "captured": source.captured, "dropped": source.dropped,
            "seconds": round(seconds, 3), "fps": round(processed / seconds, 2) if seconds else 0.0,
            "record": str(sink.path) if sink else None, "recorded_frames": sink.frames if sink else 0,
            "interrupted": bool(caught), "snapshots": snapshots, "temporal": temporal_on,
            **_latency_summary(latencies, source.fps)}


def _stylize_live(stylizer: Stylizer, frame: np.ndarray, temporal: Temporal | None, flow_pool) -> np.ndarray:
    """One camera frame through the stages: flow (in `flow_pool`, beside inference, where the
    temporal method allows it), infer, blend, deliver."""
    source = stylizer.prepare(frame)
    if temporal is None:
        return stylizer.deliver(stylizer.infer(source), frame)
    motion = flow_pool.submit(temporal.estimate, source) if temporal.concurrent else temporal.estimate(source)
    styled = stylizer.infer(source)
    motion = motion.result() if temporal.concurrent else motion
    return stylizer.deliver(temporal.blend(styled, motion), frame)


def _latency_summary(latencies: list[float], fps: float) -> dict:
    """Capture-to-output latency, in milliseconds and in frames of the camera's rate."""
    if not latencies:
        return {}
    ms = np.sort(np.array(latencies)) * 1000
    p95 = float(ms[min(len(ms) - 1, int(0.95 * len(ms)))])
    return {"latency_ms": {"median": round(float(np.median(ms)), 2), "p95": round(p95, 2)},
            "latency_frames_p95": round(p95 / 1000 * fps, 2)}


# ---------------------------------------------------------------- images

def _check_pixels(path: Path, width: int, height: int) -> None:
    if width * height > max_image_pixels():
        raise UserError(f"{path}: {width}×{height} is larger than the {max_image_pixels():,}-pixel limit "
                        "(raise STYLESTREAM_MAX_PIXELS to allow it)")


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(RGB uint8, alpha or None, bit depth) of any image OpenCV reads, turned upright by its
    EXIF orientation; UserError otherwise. The pixel limit is checked from the header first."""
    import cv2

    if not path.is_file():
        raise UserError(f"image not found: {path}")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.size == 0:
        raise UserError(f"{path}: empty file")
    head = data[:65536].tobytes()
    claimed = header_size(head)
    if claimed is not None:
        _check_pixels(path, *claimed)
    img, said = decode_quietly(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{path}: not a readable image" + (f" ({said})" if said else ""))
    _check_pixels(path, img.shape[1], img.shape[0])
    img = apply_orientation(img, exif_orientation(head))
    depth = 16 if img.dtype == np.uint16 else 8
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    alpha = None
    if img.ndim == 2:
        rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        alpha = img[..., 3].copy()
        rgb = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return rgb, alpha, depth


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, depth: int = 8) -> Path:
    """Encodes by suffix and renames into place only once fully written."""
    import cv2

    check_writable(path)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        img = np.dstack([img, alpha])
    if depth == 16 and path.suffix.lower() in (".png", ".tif", ".tiff"):
        img = img.astype(np.uint16) * 257
    try:
        ok, buf = cv2.imencode(path.suffix.lower() or ".png", img)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: cannot encode an image of this type (use .png or .jpg)")
    return write_file_atomically(path, buf)


def write_snapshot(rgb: np.ndarray, number: int, prefix: str = "stylestream") -> Path:
    """A window's `s` key: PREFIX-date-time-N.png in the current folder."""
    return write_image(Path(time.strftime(f"{prefix}-%Y%m%d-%H%M%S") + f"-{number}.png"), rgb)


def image_output_path(src: Path, out: str | None, style: str, many: bool, alpha: bool) -> Path:
    suffix = ".png" if alpha else (src.suffix if src.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff") else ".png")
    name = f"{src.stem}.{style}{suffix}"
    if out is None:
        return src.with_name(name)
    o = Path(out)
    if many or o.is_dir() or out.endswith(os.sep) or not o.suffix:
        return o / name     # a folder, created when the first image is written
    return o


def _refuse_overwriting_images(paths: list[str], out: str | None, style: str, others=()) -> None:
    """Before any image is read or written: no output may be one of the inputs (or the
    style's file). An input's output suffix depends on its alpha, so both are checked."""
    inputs = [*paths, *others]
    for p in paths:
        for alpha in (False, True):
            refuse_overwriting_inputs(image_output_path(Path(p), out, style, len(paths) > 1, alpha), inputs)


def _write_output_image(dst: Path, rgb: np.ndarray, alpha: np.ndarray | None, depth: int) -> None:
    if not dst.parent.exists():
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(dst.parent, exc) from None
    write_image(dst, rgb, alpha, depth)


def optimize_images(paths: list[str], out: str | None, style_image: str, max_size: int, steps: int,
                    optimizer: str, scales: tuple[float, ...], vgg_weights: str | None, device: str,
                    strength: float = 1.0, keep_color: bool = False) -> dict:
    """Gatys optimization of each image against `style_image` (no trained model involved)."""
    import cv2
    import torch

    from stylenets.gatys import GatysConfig, optimize
    from stylenets.perceptual import VGGFeatures, load_vgg16_features
    from stylenets.devices import pick_device

    if not 0.0 <= strength <= 1.0:
        raise UserError("--strength must be between 0 and 1")
    _refuse_overwriting_images(paths, out, Path(style_image).stem, [style_image, vgg_weights])
    try:
        dev = pick_device(device)
        vgg = VGGFeatures(load_vgg16_features(vgg_weights)).to(dev)
    except ValueError as exc:  # no such device, or unusable VGG weights (VggWeightsError)
        raise UserError(str(exc)) from None
    style_rgb, _, _ = read_image(Path(style_image))
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float().div(255).unsqueeze(0).to(dev)  # noqa: E731
    style = to_tensor(style_rgb)
    cfg = GatysConfig(steps=steps, optimizer=optimizer, scales=scales)
    results, start = [], time.perf_counter()
    for p in paths:
        src = Path(p)
        rgb, alpha, depth = read_image(src)
        h, w = rgb.shape[:2]
        s = min(1.0, max_size / max(h, w))
        small = cv2.resize(rgb, (max(16, round(w * s)), max(16, round(h * s))), interpolation=cv2.INTER_AREA)
        out_t = optimize(to_tensor(small), style, vgg, cfg)
        styled = (out_t[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        styled = cv2.resize(styled, (w, h), interpolation=cv2.INTER_CUBIC) if styled.shape[:2] != (h, w) else styled
        styled = finish(styled, rgb, strength, keep_color)
        dst = image_output_path(src, out, Path(style_image).stem, len(paths) > 1, alpha is not None)
        _write_output_image(dst, styled, alpha, depth)
        results.append({"input": str(src), "output": str(dst), "width": w, "height": h})
    return {"images": results, "style": Path(style_image).stem, "method": f"gatys-{optimizer}",
            "device": str(dev), "seconds": round(time.perf_counter() - start, 3)}


def stylize_images(paths: list[str], out: str | None, stylizer: Stylizer) -> dict:
    """Each image in turn. SIGINT/SIGTERM finish the image under way and stop there."""
    _refuse_overwriting_images(paths, out, stylizer.engine.name, [stylizer.engine.path])
    results = []
    start = time.perf_counter()
    stop = threading.Event()
    with stop_on_signals(stop) as caught:
        for p in paths:
            if stop.is_set():
                break
            src = Path(p)
            rgb, alpha, depth = read_image(src)
            styled = stylizer(rgb)
            dst = image_output_path(src, out, stylizer.engine.name, len(paths) > 1, alpha is not None)
            _write_output_image(dst, styled, alpha, depth)
            results.append({"input": str(src), "output": str(dst), "width": rgb.shape[1], "height": rgb.shape[0]})
    return {"images": results, "style": stylizer.engine.name, "device": stylizer.engine.device,
            "seconds": round(time.perf_counter() - start, 3), "interrupted": bool(caught),
            "signal": signal.Signals(caught[0]).name if caught else None}

"""Batches: the inputs of `image` and `video` as files, folders and glob patterns, the output
folder they are written into, and the record of what failed and why.

The shape of the command decides whether it is a batch, not how many files it finds: one
plain file is a single job (its output a file, any failure the command's error); several
inputs, a folder or a pattern are a batch (its output a folder, each failure one line in the
summary while the rest are still written).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from stylestream.errors import UserError

# What a folder given as input contributes (a pattern or a named file is taken as it is).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                  ".3gp", ".ogv")
# Containers that hold H.264 and any audio codec the input has: a video keeps its own; the rest become .mp4.
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".mkv", ".mov")


def is_pattern(spec: str) -> bool:
    """A glob pattern the shell did not expand (quoted), and not the name of an existing file."""
    return glob.has_magic(spec) and not Path(spec).exists()


def is_batch(specs: list[str]) -> bool:
    return len(specs) != 1 or Path(specs[0]).is_dir() or is_pattern(specs[0])


@dataclass
class Inputs:
    """The files a batch will work on, in order and without repeats, and the inputs that
    named no file (a pattern matching nothing, a folder without any)."""
    files: list[Path] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)


def expand_inputs(specs: list[str], suffixes: tuple[str, ...], kind: str, skip_stylized: str | None = None) -> Inputs:
    """Each spec as files: a folder's files with one of `suffixes` (not its subfolders, hidden
    files, or when `skip_stylized` is a style name, the NAME.STYLE.ext files earlier runs
    wrote beside their inputs); a pattern's matches, sorted; a file (present or not: a
    missing one fails when it is read) as it is. `kind` names the files in messages."""
    found = Inputs()
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    for spec in map(str, specs):
        path = Path(spec).expanduser()
        if path.is_dir():
            members = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in suffixes
                       and not (skip_stylized and p.stem.endswith(f".{skip_stylized}"))]
            if not members:
                found.failed.append({"input": spec, "error": f"{spec}: no {kind} in this folder "
                                     f"(looked for {', '.join(suffixes)})"})
            for p in members:
                add(p)
        elif is_pattern(spec):
            matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(spec))) if Path(m).is_file()]
            if not matches:
                found.failed.append({"input": spec, "error": f"{spec}: matches no file"})
            for p in matches:
                add(p)
        else:
            add(path)
    if not found.files:
        raise UserError(found.failed[0]["error"] if found.failed else f"no {kind} given")
    return found


def output_folder(out: str | Path, file_suffixes: tuple[str, ...], kind: str) -> Path:
    """A batch's output folder, created if needed. A name that is an existing file, or ends
    like one of the batch's output files, is refused: it is most likely a slip."""
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{out}: is a file; a batch of {kind} writes into a folder")
    if not folder.exists() and folder.suffix.lower() in file_suffixes:
        raise UserError(f"{out}: several {kind} write into a folder, and this names a file; "
                        f"give a folder (it is created)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    return folder


def names_a_folder(out: str | Path) -> bool:
    """An output that is an existing folder or ends with a path separator: the file goes in it."""
    text = str(out)
    return Path(text).is_dir() or text.endswith(("/", os.sep))


def video_output_name(src: Path, style: str) -> str:
    """INPUT.STYLE.mp4, or .mkv/.mov for an input in one of those."""
    suffix = src.suffix.lower() if src.suffix.lower() in VIDEO_OUTPUT_SUFFIXES else ".mp4"
    return f"{src.stem}.{style}{suffix}"


def failure(src: str | Path, error: BaseException) -> dict:
    """One input's failure as its summary line: the message, led by the input's name unless
    it already names it."""
    message = (error.strerror or str(error)) if isinstance(error, OSError) else str(error)
    if str(src) not in message:
        message = f"{src}: {message}"
    return {"input": str(src), "error": message}


def declared_frames(path: Path) -> int:
    """The frames a video file's header announces (0 when it does not say or cannot be read)."""
    import av

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            return video.frames or (int(video.duration * video.time_base * video.average_rate)
                                    if video.duration and video.average_rate else 0)
    except (av.error.FFmpegError, OSError, IndexError, UnicodeDecodeError, TypeError, ValueError):
        return 0


def stylize_videos(specs: list[str], out: str, stylizer, progress: bool = False, **job_options) -> dict:
    """Each video of a batch into the folder `out` as INPUT.STYLE.mp4 (jobs.video.stylize_video
    with `job_options`), one bar over the frames of them all. A video that fails is recorded
    and the next goes on; SIGINT/SIGTERM finish the video under way as a playable file and stop."""
    import signal
    import threading
    import time

    from stylestream.jobs.progress import progress_bar, signal_name, stop_on_signals
    from stylestream.jobs.video import stylize_video
    from stylestream.sinks import refuse_overwriting_inputs

    style = stylizer.engine.name
    found = expand_inputs(specs, VIDEO_SUFFIXES, "videos", skip_stylized=style)
    folder = Path(out)
    outputs = [folder / video_output_name(src, style) for src in found.files]
    for dst in outputs:
        refuse_overwriting_inputs(dst, [*found.files, stylizer.engine.path])
    folder = output_folder(out, VIDEO_SUFFIXES, "videos")
    done, failed, written = [], list(found.failed), {}
    stop = threading.Event()
    start = time.perf_counter()
    with stop_on_signals(stop) as caught:
        bar = progress_bar(sum(declared_frames(p) for p in found.files) if progress else 0, progress)
        try:
            for src, dst in zip(found.files, outputs):
                if stop.is_set():
                    break
                try:
                    if str(dst) in written:
                        raise UserError(f"{src}: its output {dst} is also that of {written[str(dst)]}; "
                                        "rename one of them")
                    summary = stylize_video(str(src), str(dst), stylizer, progress=False, bar=bar, **job_options)
                except (UserError, OSError) as exc:
                    failed.append(failure(src, exc))
                    continue
                written[str(dst)] = src
                done.append(summary)
                if summary["interrupted"]:
                    # Caught by the video's own handler: recorded here too, the batch stops, and
                    # this handler stays to absorb further signals while the process finishes.
                    caught.append(signal.Signals[summary["signal"]] if summary["signal"] else signal.SIGINT)
                    break
        finally:
            bar.close()
    seconds = time.perf_counter() - start
    frames = sum(s["frames"] for s in done)
    return {"videos": done, "failed": failed, "output": str(folder), "style": style, "device": stylizer.engine.device,
            "frames": frames, "seconds": round(seconds, 3), "fps": round(frames / seconds, 2) if seconds else 0.0,
            "interrupted": bool(caught), "signal": signal_name(caught)}
